"""What every scene capture shares: the error, the PNG writer, saving the Render Result, rendering with the scene
as context, putting the user's settings back, and the provenance record. Main thread only (bpy); imports nothing
from the core, so the headless worker can load it without the add-on."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bpy

PREVIEW_ENGINES = {"SCENE": "", "WORKBENCH": "BLENDER_WORKBENCH", "EEVEE": "EEVEE", "CYCLES": "CYCLES"}


class CaptureError(Exception):
    """A capture that cannot be made; the message says what to do (shown to the user as is)."""


def write_png(path: str | Path, pixels: Any, bit_depth: int = 8) -> None:
    """Write a (height, width[, channels]) array of floats in 0..1 (row 0 = top) as a grey/RGB/RGBA PNG."""
    import numpy as np

    arr = np.asarray(pixels, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    height, width, channels = arr.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    top = 65535 if bit_depth == 16 else 255
    values = np.clip(np.rint(np.clip(arr, 0.0, 1.0) * top), 0, top)
    values = values.astype(">u2" if bit_depth == 16 else "u1")
    rows = values.reshape(height, width * channels)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    Path(path).write_bytes(data)


def eevee_id() -> str:
    prop: Any = bpy.types.RenderSettings.bl_rna.properties["engine"]
    items = {e.identifier for e in prop.enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def find_camera(scene: Any, camera: str | None) -> Any:
    if camera:
        obj = bpy.data.objects.get(camera)
        if obj is None or obj.type != "CAMERA":
            names = ", ".join(o.name for o in bpy.data.objects if o.type == "CAMERA") or "none"
            raise CaptureError(f'There is no camera called "{camera}" (cameras: {names}).')
        return obj
    if scene.camera is None:
        raise CaptureError("The scene has no active camera: add one, or pick it in Scene Properties > Camera.")
    return scene.camera


def find_view_layer(scene: Any, name: str | None) -> Any:
    if not name:
        return bpy.context.view_layer if bpy.context.scene == scene else scene.view_layers[0]
    layer = scene.view_layers.get(name)
    if layer is None:
        names = ", ".join(v.name for v in scene.view_layers)
        raise CaptureError(f'The scene has no view layer "{name}" (view layers: {names}).')
    return layer


@contextmanager
def saved(*pairs: tuple[Any, str]) -> Iterator[None]:
    """Restore the given (owner, attribute) values afterwards: a capture never changes the user's scene."""
    before = [(owner, attr, getattr(owner, attr)) for owner, attr in pairs]
    try:
        yield
    finally:
        for owner, attr, value in reversed(before):
            try:
                setattr(owner, attr, value)
            except (AttributeError, TypeError, ValueError):  # e.g. an object removed meanwhile
                pass


def render_scene(scene: Any, view_layer: Any | None) -> Any:
    """Render the scene (blocking) and return the Render Result image."""
    kwargs: dict[str, Any] = {"write_still": False, "scene": scene.name}
    if view_layer is not None:
        kwargs["layer"] = view_layer.name
    # A render of another scene than the context's runs at the context scene's frame and resets the scene's own
    # frame (seen on 4.5 and 5.0): render with the scene as context so the frame under its playhead is the one made.
    with bpy.context.temp_override(scene=scene):
        finished = bpy.ops.render.render(**kwargs)
    if finished != {"FINISHED"}:
        raise CaptureError("Blender could not render the scene; see the console for why.")
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise CaptureError("Blender rendered but made no Render Result.")
    return result


def save_result(result: Any, scene: Any, path: Path, file_format: str, color_depth: str) -> None:
    settings = scene.render.image_settings
    with saved((settings, "file_format"), (settings, "color_depth"), (settings, "color_mode")):
        settings.file_format = file_format
        settings.color_mode = "RGBA"
        settings.color_depth = color_depth
        result.save_render(str(path), scene=scene)


def out_path(folder: str | Path, name: str) -> Path:
    """`<folder>/<name>`; the name carries a user-given parameter name, so anything but letters, digits, `-`, `_`
    and `.` is replaced: a capture never lands outside the job's folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name).lstrip(".") or "capture"
    return out / safe


def provenance(param: str, source: str, path: Path, scene: Any, **extra: Any) -> dict[str, Any]:
    return {"param": param, "source": source, "path": str(path), "scene": scene.name, **extra}
