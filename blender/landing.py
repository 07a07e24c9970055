"""Landing results in Blender: output files into images, Sequencer strips and text blocks, with provenance.

Thread rule: main thread only (called from the session's handlers inside the timer). Everything a result needs
is read from the job's journaled snapshot (`row["target"]` is `runtime.jobs.Target` as plain data), so a job
re-attached after a restart lands exactly like one submitted in this session.

Cost: landing should fit in one frame (16 ms) of the main thread. Images are created without reading their
pixels (Blender decodes them lazily when first drawn), image strips too (see `new_image_strip`). A movie strip
makes Blender open the file and decode its first frame (tens of ms at 1080p, Blender's own cost, measured in
bench/main_thread.py); the dispatcher's per-tick budget puts each such landing in a tick of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from ..runtime.netpolicy import redact_url

PROVENANCE_KEYS = ("job_id", "service", "instance", "template", "prompt", "seed", "task")
PENDING_SUFFIX = ".genbridge-pending"  # a name no file has: Blender adds the strip without reading a file
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".exr", ".tif", ".tiff"})
MOVIE_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".json"})


def provenance(row: dict[str, Any]) -> dict[str, Any]:
    """What made this result: service, instance, template, prompt, seed, job id (stored as custom properties)."""
    inputs = row.get("inputs") or {}
    values = {
        "job_id": row.get("id", ""),
        "service": row.get("service") or "",
        "instance": redact_url(row.get("instance") or ""),  # saved in the .blend: never a user:password@
        "template": row.get("template") or "",
        "prompt": str(inputs.get("prompt", "")),
        "seed": row.get("seed") if row.get("seed") is not None else -1,
        "task": row.get("task", ""),
    }
    return {f"genbridge_{k}": v for k, v in values.items()}


def tag(id_data: Any, row: dict[str, Any]) -> None:
    for key, value in provenance(row).items():
        id_data[key] = value


def load_image(path: str, *, name: str | None = None, reload: bool = False) -> Any:
    """An image datablock for `path`; its pixels are read lazily by Blender, not here."""
    image = bpy.data.images.load(path, check_existing=True)
    if reload:
        image.reload()
    if name:
        image.name = name
    return image


def strips_of(scene: Any) -> Any:
    """The strip collection: `strips` in 4.4+ and 5.x, `sequences` before."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def target_scene(target: dict[str, Any]) -> Any:
    return bpy.data.scenes.get(target.get("scene", "")) or bpy.context.scene


def land_output(row: dict[str, Any], path: str) -> Any:
    """Put one output file where the job's target says; returns the Blender data it created (or None)."""
    target = row.get("target") or {}
    kind = target.get("kind", "none")
    suffix = Path(path).suffix.lower()
    if kind in ("image", "none") and suffix in IMAGE_SUFFIXES:
        image = load_image(path, name=target.get("name") or None)
        tag(image, row)
        if target.get("show_in_image_editor"):
            show_in_image_editor(image)
        return image
    if kind in ("movie_strip", "image_strip"):
        return land_strip(row, path, target, movie=kind == "movie_strip" and suffix in MOVIE_SUFFIXES)
    if kind == "text":
        text = text_block_for(row)
        if not text.as_string() and suffix in TEXT_SUFFIXES:
            text.from_string(Path(path).read_text(encoding="utf-8", errors="replace"))
        tag(text, row)
        return text
    return None


def land_strip(row: dict[str, Any], path: str, target: dict[str, Any], *, movie: bool) -> Any:
    """A movie or image strip at the target's channel and frame, as long as planned (`duration`, in frames).

    A movie strip keeps its own length when that is shorter than planned (a clip is never stretched)."""
    strips = strips_of(target_scene(target))
    name = target.get("name") or Path(path).stem
    channel, frame = int(target.get("channel", 1)), int(target.get("frame_start", 1))
    if movie:
        strip = strips.new_movie(name=name, filepath=path, channel=channel, frame_start=frame)
    else:
        strip = new_image_strip(strips, name, path, channel, frame)
    planned = int(target.get("duration") or 0)
    if planned > 0:
        content = int(getattr(strip, "frame_duration", planned) or planned) if movie else planned
        strip.frame_final_duration = max(1, min(planned, content))
    tag(strip, row)
    return strip


def new_image_strip(strips: Any, name: str, path: str, channel: int, frame: int) -> Any:
    """An image strip whose file Blender reads when it first draws the strip, not now.

    `new_image` decodes the whole file to note its size (about 60-80 ms for a 1080p PNG, several frames of a
    frozen UI); the size is not needed (the render reads the image anyway, with the same result), so the strip
    is made for a name that does not exist and then pointed at the real file, which does not reload it."""
    real = Path(path)
    pending = str(real.with_name(real.name + PENDING_SUFFIX))
    strip = strips.new_image(name=name, filepath=pending, channel=channel, frame_start=frame)
    strip.elements[0].filename = real.name
    return strip


def show_in_image_editor(image: Any) -> None:
    """Show the image in the first Image Editor of any window (no editor open: nothing to do)."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        for area in window.screen.areas:
            space = area.spaces.active
            if area.type == "IMAGE_EDITOR" and isinstance(space, bpy.types.SpaceImageEditor):
                space.image = image
                return


def text_block_for(row: dict[str, Any]) -> Any:
    """The Text block a text job streams into (created on first use; its name is kept on the row)."""
    target = row.get("target") or {}
    name = row.get("text_block") or target.get("name") or f"GenBridge {row.get('task', 'text')}"
    text = bpy.data.texts.get(name)
    if text is None:
        text = bpy.data.texts.new(name)
    row["text_block"] = text.name
    return text


def append_text(text: Any, tokens: str) -> None:
    """Append streamed tokens at the end of a Text block (cost independent of the text's length)."""
    last = len(text.lines) - 1
    # Blender counts `character` in UTF-8 bytes: a character count lands inside "é" and corrupts the block.
    text.cursor_set(last, character=len(text.lines[last].body.encode("utf-8")))
    text.write(tokens)
