"""What every scene capture shares: the error, the PNG writer, saving the Render Result, rendering with the scene
as context, putting the user's settings back, and the provenance record. Main thread only (bpy); imports nothing
from the core, so the headless worker can load it without the add-on."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

PREVIEW_ENGINES = {"SCENE": "", "WORKBENCH": "BLENDER_WORKBENCH", "EEVEE": "EEVEE", "CYCLES": "CYCLES"}
# Which frame a capture renders: a frame number, or one of these words (any case); None = the current frame.
FRAME_WORDS = ("current", "start", "end")
# A pass's EXR is a temporary file read back at once on the main thread: uncompressed, Blender loads a 1280x720 float
# RGBA one in ~8 ms instead of ~40 ms with the default ZIP (measured on 4.5); the PNG made from it is the same.
UNCOMPRESSED_EXR = "NONE"
_FRAME_HINT = f"give a frame number, or {', '.join(FRAME_WORDS)}."


class CaptureError(Exception):
    """A capture that cannot be made; the message says what to do (shown to the user as is)."""


class CaptureCancelled(CaptureError):
    """The user stopped the capture (Esc, or cancelled its render): nothing is queued."""


def write_png(path: str | Path, pixels: Any, bit_depth: int = 8) -> None:
    """Write a (height, width[, channels]) array of floats in 0..1 (row 0 = top) as a grey/RGB/RGBA PNG."""
    from .pass_png import array_png_bytes

    Path(path).write_bytes(array_png_bytes(pixels, bit_depth))


def eevee_id() -> str:
    prop: Any = bpy.types.RenderSettings.bl_rna.properties["engine"]
    items = {e.identifier for e in prop.enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def find_camera(scene: Any, camera: str | None) -> Any:
    if camera:
        obj = bpy.data.objects.get(camera)
        if obj is None or obj.type != "CAMERA":
            cameras = [o.name for o in bpy.data.objects if o.type == "CAMERA"]
            names = ", ".join(cameras[:12]) + (f" and {len(cameras) - 12} more" if len(cameras) > 12 else "")
            raise CaptureError(f'There is no camera called "{camera[:60]}" (cameras: {names or "none"}).')
        return obj
    if scene.camera is None:
        raise CaptureError("The scene has no active camera: add one, or pick it in Scene Properties > Camera.")
    return scene.camera


def resolve_frame(scene: Any, frame: int | str | None) -> int | None:
    """The frame a capture renders: None for the current frame ("current", None, ""), the scene's first or last frame
    ("start", "end"), or a frame number (an int, or its digits), which must lie in the scene's frame range (a frame
    outside it is most likely a typo; widen the range to render there). Raises CaptureError saying what to give."""
    if frame is None or isinstance(frame, bool):
        return None
    if isinstance(frame, str):
        word = frame.strip().lower()
        if word in ("", "current"):
            return None
        if word in ("start", "end"):
            return int(scene.frame_start if word == "start" else scene.frame_end)
        try:
            frame = int(word)
        except ValueError:
            raise CaptureError(f'"{word[:40]}" is no frame: {_FRAME_HINT}') from None
    if not isinstance(frame, int):
        raise CaptureError(f"{frame!r} is no frame: {_FRAME_HINT}")
    first, last = int(scene.frame_start), int(scene.frame_end)
    if not first <= frame <= last:
        raise CaptureError(
            f'Frame {frame} is outside the scene "{scene.name}"\'s frames {first}..{last}: pick one in that range, '
            "or widen Output Properties > Frame Range."
        )
    return frame


class SceneFrame:
    """The scene's frame as one attribute (`frame` = (frame, subframe)) for `Saved`: it is put back with
    `scene.frame_set`, so animated objects, cameras and marker-bound cameras are evaluated there again (setting
    `frame_current` alone leaves the evaluated scene at the captured frame until something else updates it)."""

    def __init__(self, scene: Any) -> None:
        self.scene = scene

    @property
    def frame(self) -> tuple[int, float]:
        return int(self.scene.frame_current), float(self.scene.frame_subframe)

    @frame.setter
    def frame(self, value: tuple[int, float]) -> None:
        if (int(self.scene.frame_current), float(self.scene.frame_subframe)) != value:
            self.scene.frame_set(value[0], subframe=value[1])


def go_to_frame(scene: Any, frame: int | None) -> None:
    """Evaluate the scene at `frame` (None: stay) before a capture sets its camera: a marker-bound camera switches
    here, and the active camera is the one of that frame."""
    if frame is not None and frame != scene.frame_current:
        scene.frame_set(frame)


def find_view_layer(scene: Any, name: str | None) -> Any:
    if not name:
        return bpy.context.view_layer if bpy.context.scene == scene else scene.view_layers[0]
    layer = scene.view_layers.get(name)
    if layer is None:
        names = ", ".join(v.name for v in scene.view_layers)
        raise CaptureError(f'The scene has no view layer "{name}" (view layers: {names}).')
    return layer


class Saved:
    """The given (owner, attribute) values as they are now, put back by `restore()` (once; later calls do nothing):
    a capture never changes the user's scene, also when its render job ends much later, fails or is cancelled."""

    def __init__(self, *pairs: tuple[Any, str]) -> None:
        self.before = [(owner, attr, getattr(owner, attr)) for owner, attr in pairs]

    def restore(self) -> None:
        before, self.before = self.before, []
        for owner, attr, value in reversed(before):
            try:
                setattr(owner, attr, value)
            except (AttributeError, TypeError, ValueError, ReferenceError):  # e.g. an object removed meanwhile
                pass


@contextmanager
def saved(*pairs: tuple[Any, str]) -> Iterator[None]:
    """Restore the given (owner, attribute) values afterwards (see `Saved`)."""
    values = Saved(*pairs)
    try:
        yield
    finally:
        values.restore()


@dataclass(frozen=True)
class Finishing:
    """A capture's finish with the main thread's part done (pixels read, provenance made): `encode()` is pure (no
    bpy, any thread) and returns the bytes of the file `path`; `record` is the provenance once that file is written."""

    path: Path
    encode: Callable[[], bytes]
    record: dict[str, Any]


class SplitFinish:
    """A finish step whose slow part can leave the main thread: `later(result)` does the bpy part and returns a
    `Finishing`, which the GUI's capture run encodes and writes in a worker thread; calling it does both here (the
    blocking path), so both paths write the same bytes."""

    def __init__(self, later: Callable[[Any], Finishing]) -> None:
        self.later = later

    def __call__(self, result: Any) -> dict[str, Any]:
        finishing = self.later(result)
        Path(finishing.path).write_bytes(finishing.encode())
        return finishing.record


@dataclass
class Prepared:
    """A render capture with the scene set up for it: render `scene` (with `layer`, if any) by any means, then
    `finish(render_result)` writes the file and returns the provenance; `close()` always runs last (restores the
    settings, removes temporary data). Splitting it so lets the GUI render with Blender's own render job while the
    scripts' path renders in place (`run`)."""

    source: str
    param: str
    scene: Any
    layer: Any | None
    settings: Saved
    finish: Callable[[Any], dict[str, Any]]
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    # What `finish` first writes (file, format, colour depth): a render job can write it in its own thread
    # (`write_still`), and `finish` is then given that file's Path instead of the Render Result.
    output: tuple[Path, str, str] | None = None

    def close(self) -> None:
        try:
            self.settings.restore()
        finally:
            for step in self.cleanup:
                try:
                    step()
                except (OSError, RuntimeError, ReferenceError):  # best effort: a temp file or material gone already
                    pass
            self.cleanup = []

    def run(self) -> dict[str, Any]:
        """Render in place (blocking) and finish: the path of scripts, the bpy module and the headless worker."""
        try:
            return self.finish(render_scene(self.scene, self.layer))
        finally:
            self.close()


def prepared(
    source: str,
    param: str,
    scene: Any,
    layer: Any | None,
    restore: tuple[tuple[Any, str], ...] | list[tuple[Any, str]],
    apply: Callable[[], Callable[[Any], dict[str, Any]]],
    cleanup: list[Callable[[], None]] | None = None,
    output: tuple[Path, str, str] | None = None,
) -> Prepared:
    """Remember `restore`, then `apply()` the capture's settings (it returns the finish step); if applying fails, the
    settings are put back and the cleanup runs before the error goes on."""
    prep = Prepared(source, param, scene, layer, Saved(*restore), lambda _result: {}, list(cleanup or []), output)
    try:
        prep.finish = apply()
    except BaseException:
        prep.close()
        raise
    return prep


def render_scene(scene: Any, view_layer: Any | None) -> Any:
    """Render the scene (blocking) and return the Render Result image."""
    kwargs: dict[str, Any] = {"write_still": False, "scene": scene.name}
    if view_layer is not None:
        kwargs["layer"] = view_layer.name
    # A render of another scene than the context's runs at the context scene's frame and resets the scene's own
    # frame (seen on 4.5 and 5.0): render with the scene as context so the frame under its playhead is the one made.
    try:
        with bpy.context.temp_override(scene=scene):
            finished = bpy.ops.render.render(**kwargs)
    except RuntimeError as exc:  # the engine's own words, e.g. "build has no OpenImageDenoise support"
        reason = str(exc).removeprefix("Error: ").strip().splitlines()[0] if str(exc).strip() else "no reason given"
        raise CaptureError(
            f"Blender could not render the scene: {reason}. Change the render settings and retry."
        ) from None
    if finished != {"FINISHED"}:
        raise CaptureError("Blender could not render the scene; see the console for why.")
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise CaptureError("Blender rendered but made no Render Result.")
    return result


def save_result(result: Any, scene: Any, path: Path, file_format: str, color_depth: str) -> None:
    """Write the Render Result (or an Image) as `path`; a `Path` instead is the file a render job already wrote in
    that format (see `Prepared.output`): it is moved there."""
    if isinstance(result, Path):
        shutil.move(str(result), str(path))
        return
    settings = scene.render.image_settings
    pairs = ((settings, "file_format"), (settings, "color_depth"), (settings, "color_mode"), (settings, "exr_codec"))
    with saved(*pairs):
        settings.file_format = file_format
        settings.color_mode = "RGBA"
        settings.color_depth = color_depth
        if file_format == "OPEN_EXR":
            settings.exr_codec = UNCOMPRESSED_EXR
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
