"""Landing results in Blender: output files into images, Sequencer strips and text blocks, with provenance.

Thread rule: main thread only (called from the session's handlers inside the timer). Everything a result needs
is read from the job's journaled snapshot (`row["target"]` is `runtime.jobs.Target` as plain data), so a job
re-attached after a restart lands exactly like one submitted in this session.

Cost: landing must fit in one frame (16 ms) of the main thread. Images are created without reading their pixels
(Blender decodes them lazily when first drawn or used) and movie strips are added without reading every frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from ..runtime.netpolicy import redact_url

PROVENANCE_KEYS = ("job_id", "service", "instance", "template", "prompt", "seed", "task")
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
        strip = strips.new_image(name=name, filepath=path, channel=channel, frame_start=frame)
    planned = int(target.get("duration") or 0)
    if planned > 0:
        content = int(getattr(strip, "frame_duration", planned) or planned) if movie else planned
        strip.frame_final_duration = max(1, min(planned, content))
    tag(strip, row)
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
    text.cursor_set(last, character=len(text.lines[last].body))
    text.write(tokens)
