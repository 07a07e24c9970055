"""What output nodes write and report: placeholder media in output/ or temp/ and the ui dict of `executed`.

Names follow the server (`<prefix>_<5-digit counter>_.png`, `ComfyUI_temp_<5 letters>_...`); videos are reported
under `images` with `animated: [true]`; SaveGLB reports `3d` items (0.38 adds a `result` string); Preview3D
reports `result`; in 0.38 LoadVideo shows its input file as a `type: "input"` intermediate output.
Called from the executor on the server's loop (file writes of videos go to a thread).
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import random
import re
import string
from pathlib import Path
from typing import Any

from ..placeholder import placeholder_png, write_placeholder_mp4

VIDEO_SAVERS = {"SaveWEBM": ".webm", "SaveVideo": ".mp4"}
ANIMATED_SAVERS = {"SaveAnimatedWEBP": ".webp", "SaveAnimatedPNG": ".png"}
ESCAPE = (
    "**** ERROR: Saving image outside the output folder is not allowed.\n"
    " full_output_folder: {full}\n"
    "         output_dir: <comfyui-root>/output\n"
    "         commonpath: {common}"
)


def find_upstream(graph: dict[str, Any], nid: str, names: tuple[str, ...]) -> Any:
    """The first literal value of any of `names` on this node or its ancestors (breadth first)."""
    queue, seen = [nid], set()
    while queue:
        cur = queue.pop(0)
        if cur in seen or cur not in graph:
            continue
        seen.add(cur)
        for name, value in (graph[cur].get("inputs") or {}).items():
            if name in names and not isinstance(value, list):
                return value
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                queue.append(value[0])
    return None


def _shown_value(graph: dict[str, Any], source: Any, fallback: str) -> str:
    """What PreviewAny prints for the values the stand-in can know: primitives and GetImageSize (capture 16)."""
    if not (isinstance(source, list) and len(source) == 2 and source[0] in graph):
        return fallback if not isinstance(source, (str, int, float, bool)) else str(source)
    node = graph[source[0]]
    inputs = node.get("inputs") or {}
    if node.get("class_type") == "GetImageSize":
        names = ("width", "height", "batch_size")
        slot = source[1] if isinstance(source[1], int) and 0 <= source[1] < 3 else 0
        return str(as_int(find_upstream(graph, source[0], (names[slot],)), 512 if slot < 2 else 1))
    if str(node.get("class_type", "")).startswith("Primitive") and "value" in inputs:
        return str(inputs["value"])
    return fallback


def next_counter(folder: Path, base: str) -> int:
    pattern = re.compile(re.escape(base) + r"_(\d{5})_")
    highest = 0
    for entry in os.scandir(folder):
        m = pattern.match(entry.name)
        if m:
            highest = max(highest, int(m.group(1)))
    return highest + 1


def as_int(value: Any, default: int) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


FAKE_ROOT = "/srv/a/b/c/ComfyUI"  # deep enough that climbing out still shows as <comfyui-root>/..


def _scrubbed(path: str) -> str:
    """A server path as the captures show it: relative to `<comfyui-root>` when inside or above it."""
    if path == FAKE_ROOT or FAKE_ROOT.startswith(path + "/") or path.startswith(FAKE_ROOT + "/"):
        rel = posixpath.relpath(path, FAKE_ROOT)
        return "<comfyui-root>" if rel == "." else f"<comfyui-root>/{rel}"
    return path


def _save_target(dirs: dict[str, Path], prefix: str) -> tuple[Path, str, str]:
    """(folder, subfolder, basename) for a filename_prefix; refuses to leave output/ like the server."""
    subfolder, _, base = prefix.replace("\\", "/").rpartition("/")
    out = posixpath.join(FAKE_ROOT, "output")
    full = posixpath.normpath(posixpath.join(out, subfolder))
    if posixpath.commonpath([out, full]) != out:
        common = posixpath.commonpath([out, full])
        raise Exception(ESCAPE.format(full=_scrubbed(full), common=_scrubbed(common)))
    folder = dirs["output"] / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    return folder, subfolder, base


async def write_outputs(dirs: dict[str, Path], graph: dict[str, Any], nid: str, pid: str, v038: bool) -> Any:
    """Run output node `nid` (or 0.38 intermediate LoadVideo): write files, return its ui dict or None."""
    cls = graph[nid]["class_type"]
    inputs = graph[nid].get("inputs") or {}
    width = as_int(find_upstream(graph, nid, ("width",)), 512)
    height = as_int(find_upstream(graph, nid, ("height",)), 512)
    text = str(find_upstream(graph, nid, ("text", "prompt", "positive_prompt")) or cls)[:80]
    label = f"{text} ({cls} {pid[:8]})"
    if cls == "PreviewAny":
        return {"text": [_shown_value(graph, inputs.get("source"), text)]}
    if cls == "LoadVideo":
        return {"images": [{"filename": str(inputs.get("file")), "subfolder": "", "type": "input"}], "animated": [True]}
    if cls == "Preview3D":
        return {"result": [inputs.get("model_file"), None]}
    if cls == "SaveGLB":
        folder, sub, base = _save_target(dirs, str(inputs.get("filename_prefix", "mesh/ComfyUI")))
        name = f"{base}_{next_counter(folder, base):05d}_.glb"
        (folder / name).write_bytes(b"glTF\x02\x00\x00\x00" + label.encode())
        ui: dict[str, Any] = {"3d": [{"filename": name, "subfolder": sub, "type": "output"}]}
        if v038:
            ui["result"] = [f"{sub}/{name} [output]" if sub else f"{name} [output]"]
        return ui
    batch = as_int(find_upstream(graph, nid, ("batch_size",)), 1)
    frames = as_int(find_upstream(graph, nid, ("length", "frames", "num_frames", "video_length")), 0)
    fps = as_int(find_upstream(graph, nid, ("fps", "frame_rate")), 16)
    if cls == "PreviewImage":
        kind, sub = "temp", ""
        base = "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
        folder = dirs["temp"]
    elif cls in VIDEO_SAVERS or cls in ANIMATED_SAVERS or cls == "SaveImage":
        kind = "output"
        folder, sub, base = _save_target(dirs, str(inputs.get("filename_prefix", "ComfyUI")))
    else:
        return None  # other output nodes (API nodes, savers of latents, audio, ...) report no files here
    counter = next_counter(folder, base)
    if cls in VIDEO_SAVERS:
        name = f"{base}_{counter:05d}_{VIDEO_SAVERS[cls]}"
        await asyncio.to_thread(write_placeholder_mp4, folder / name, label, width, height, max(frames, 8), fps)
        return {"images": [{"filename": name, "subfolder": sub, "type": kind}], "animated": [True]}
    # Like the server's worker thread, encode and write off the event loop so HTTP and ws stay responsive.
    if cls in ANIMATED_SAVERS:
        name = f"{base}_{counter:05d}_{ANIMATED_SAVERS[cls]}"
        await asyncio.to_thread(_write_png, folder / name, label, width, height)
        return {"images": [{"filename": name, "subfolder": sub, "type": kind}], "animated": [True]}
    images = []
    for i in range(max(1, batch)):
        name = f"{base}_{counter + i:05d}_.png"
        await asyncio.to_thread(_write_png, folder / name, label, width, height)
        images.append({"filename": name, "subfolder": sub, "type": kind})
    return {"images": images}


def _write_png(path: Path, label: str, width: int, height: int) -> None:
    path.write_bytes(placeholder_png(label, width, height))
