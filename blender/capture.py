"""Blender as the source: camera renders, depth / normal / mist passes, object masks, the Image Editor's image and
the Sequencer frame, each written as a PNG into the job's output folder with plain-data provenance.

Thread rules: main thread only (bpy). Nothing here imports the core's pydantic models: a capture returns a plain
dict with the fields of `runtime.jobs.CaptureInfo`, which the caller puts in the job spec's `captures`.

How the passes are made (decided for robustness on 4.2-5.0 and on machines without a GPU): the compositor's API
changed in 5.0 and render-result pixels cannot be read in background mode, so a pass is a one-sample Cycles (CPU)
render with a view-layer material override that emits the raw value (camera-space depth, distance, normal, or the
object index set on the selected objects), saved as float EXR to a temporary file, read back and normalised with
numpy (in plain Python where Blender has no numpy: `plain_pixels`), then written as an 8- or 16-bit PNG by a small
PNG writer (no colour management in the way):

- depth: near = white, far = dark (linear between the nearest and farthest visible surface, 0.05..1), background
  black, as ControlNet depth preprocessors (MiDaS / Depth Anything) produce;
- normal: camera-space normal mapped to RGB = n * 0.5 + 0.5 (facing the camera = (128, 128, 255)), background black;
- mist: Blender's mist (world mist start / depth / falloff): 0 near, 1 far and for the background;
- mask: white where a selected object is visible (occlusion respected), black elsewhere.

Each render capture is three steps (`prepare` sets the scene up and remembers the user's values, a render, then
`Prepared.finish` writes the file and `Prepared.close` puts everything back), so it can be rendered two ways:
- in place (`capture`, `Prepared.run`: a blocking `bpy.ops.render.render`): scripts, the bpy module, the headless
  worker, the Generate operator's execute. A 64x48 capture takes tens of milliseconds; at 1280x720 a Workbench
  preview (FXAA, one sample) about 0.3 s and a depth pass 0.25-1.6 s on this loaded 2-core software-GL machine
  (`bench/main_thread.py`), during which the main thread is busy;
- as Blender's own render job (`blender/capture_job.py`): the Generate operator invoked from the UI (button, F3)
  steps through the captures from a modal timer, so Blender keeps drawing and handling events while it renders; a
  pass's normalising and PNG encoding (`pass_png`, bpy-free) then run in a worker thread (`finish_thread`), the
  main thread only reading the EXR's pixels (`capture_passes.read_pass`, ~20-30 ms at 1280x720).
The Image Editor's image and the viewport (`capture_viewport`) render nothing slow and are always made at once.
Nothing here runs inside draw() or a timer. The modules: `capture_common` (shared helpers, PNG writer, the
prepared-capture type), `capture_passes` (the passes), `capture_viewport`, this one (camera, Image Editor,
Sequencer and the entry points).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from .capture_common import (
    PREVIEW_ENGINES,
    CaptureError,
    Prepared,
    SceneFrame,
    eevee_id,
    find_camera,
    find_view_layer,
    go_to_frame,
    out_path,
    prepared,
    provenance,
    resolve_frame,
    save_result,
    saved,
    write_png,
)
from .capture_passes import PASSES, capture_pass, prepare_pass
from .capture_viewport import capture_viewport

SOURCES = ("camera", *PASSES, "image_editor", "sequencer", "viewport")
__all__ = ["PASSES", "SOURCES", "CaptureError", "Prepared", "active_editor_image", "capture", "capture_camera"]
__all__ += ["capture_image", "capture_pass", "capture_sequencer", "capture_viewport", "prepare", "write_png"]

# ------------------------------------------------------------------------------------------------ camera render


def prepare_camera(
    folder: str | Path,
    *,
    param: str = "image",
    scene: Any = None,
    camera: str | None = None,
    width: int | None = None,
    height: int | None = None,
    engine: str = "SCENE",
    view_layer: str | None = None,
    frame: int | str | None = None,
) -> Prepared:
    """Set the scene up to render the (active or named) camera at `width` x `height` with the scene's engine or a
    preview engine (`WORKBENCH`, `EEVEE`, `CYCLES`) at `frame` (see `resolve_frame`: a number, "start", "end", or
    None for the current one; the active camera is the one of that frame, so marker-bound cameras switch too);
    finishing writes `<folder>/capture-<param>-camera.png`. The frame is put back with the other settings."""
    scene = scene or bpy.context.scene
    at = resolve_frame(scene, frame)
    if camera or at is None:
        find_camera(scene, camera)  # a wrong name (or no active camera) fails before anything changes
    layer = find_view_layer(scene, view_layer) if view_layer else None
    if engine not in PREVIEW_ENGINES:
        raise CaptureError(f'Unknown preview engine "{engine}": use one of {", ".join(PREVIEW_ENGINES)}.')
    render = scene.render
    path = out_path(folder, f"capture-{param}-camera.png")

    def apply() -> Any:
        go_to_frame(scene, at)
        cam = find_camera(scene, camera)  # after the frame: the active camera of that frame
        scene.camera = cam
        shown = scene.frame_current
        chosen = PREVIEW_ENGINES[engine]
        if chosen:
            render.engine = eevee_id() if chosen == "EEVEE" else chosen
        if engine == "WORKBENCH":
            scene.display.render_aa = "FXAA"  # a preview: one sample, not the default 8 (bench/main_thread.py)
        render.resolution_x, render.resolution_y = width or render.resolution_x, height or render.resolution_y
        render.resolution_percentage = 100
        render.use_sequencer = False  # the camera, not the edit
        size, used_engine = (render.resolution_x, render.resolution_y), render.engine

        def finish(result: Any) -> dict[str, Any]:
            save_result(result, scene, path, "PNG", "8")
            return provenance(
                param,
                "camera",
                path,
                scene,
                camera=cam.name,
                frame=shown,
                view_layer=layer.name if layer else "",
                engine=used_engine,
                width=size[0],
                height=size[1],
                bit_depth=8,
            )

        return finish

    restore = [
        (scene, "camera"),
        (render, "engine"),
        (render, "resolution_x"),
        (render, "resolution_y"),
        (render, "resolution_percentage"),
        (render, "use_sequencer"),
        (render, "use_compositing"),
        (scene.display, "render_aa"),
        (SceneFrame(scene), "frame"),  # last, so put back first: the other values are then restored over it
    ]
    return prepared("camera", param, scene, layer, restore, apply, output=(path, "PNG", "8"))


def capture_camera(folder: str | Path, **options: Any) -> dict[str, Any]:
    """Render the camera in place (see `prepare_camera`) and write the PNG; returns the provenance."""
    return prepare_camera(folder, **options).run()


# ------------------------------------------------------------------------------------------------ images


def active_editor_image(context: Any = None) -> Any:
    """The image shown in the Image Editor (the context's, else the first one on screen), or None."""
    context = context or bpy.context
    space = getattr(context, "space_data", None)
    if space is not None and getattr(space, "type", "") == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    screen = getattr(context, "screen", None)
    for area in getattr(screen, "areas", ()):
        if area.type == "IMAGE_EDITOR" and area.spaces.active.image is not None:
            return area.spaces.active.image
    return None


def capture_image(folder: str | Path, *, param: str = "image", image: Any = None, scene: Any = None) -> dict[str, Any]:
    """The Image Editor's image (a name, an Image, or the one on screen; Render Result and painted textures too)
    as `<folder>/capture-<param>-image_editor.png`; returns the provenance."""
    scene = scene or bpy.context.scene
    if isinstance(image, str):
        found = bpy.data.images.get(image)
        if found is None:
            raise CaptureError(f'There is no image called "{image}".')
        image = found
    image = image or active_editor_image()
    if image is None:
        raise CaptureError("Open an image in the Image Editor (or render one) first.")
    path = out_path(folder, f"capture-{param}-image_editor.png")
    if image.type != "RENDER_RESULT" and not image.has_data and image.source != "GENERATED":
        image.reload()  # a file image not yet loaded: save_render needs its pixels
    view = scene.view_settings
    try:
        with saved((view, "view_transform"), (view, "look"), (view, "exposure"), (view, "gamma")):
            if image.type != "RENDER_RESULT":  # a texture is sent as its pixels are, not through the render's look
                view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
            save_result(image, scene, path, "PNG", "8")
    except RuntimeError as exc:
        raise CaptureError(f'The image "{image.name}" has no pixels to send ({exc}).') from None
    width, height = (scene.render.resolution_x, scene.render.resolution_y)
    if image.type != "RENDER_RESULT":
        width, height = image.size
    return provenance(
        param, "image_editor", path, scene, image=image.name, frame=scene.frame_current, width=width, height=height
    )


def prepare_sequencer(
    folder: str | Path,
    *,
    param: str = "image",
    scene: Any = None,
    frame: int | str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Prepared:
    """Set the scene up to render the Sequencer's composited frame under the playhead (or `frame`, see
    `resolve_frame`); finishing writes `<folder>/capture-<param>-sequencer.png`."""
    scene = scene or bpy.context.scene
    at = resolve_frame(scene, frame)
    if scene.sequence_editor is None or not _strips(scene):
        raise CaptureError(f'The scene "{scene.name}" has no Sequencer strips to capture.')
    render = scene.render
    path = out_path(folder, f"capture-{param}-sequencer.png")

    def apply() -> Any:
        go_to_frame(scene, at)
        shown = scene.frame_current
        render.use_sequencer = True
        render.resolution_x, render.resolution_y = width or render.resolution_x, height or render.resolution_y
        render.resolution_percentage = 100
        size = (render.resolution_x, render.resolution_y)

        def finish(result: Any) -> dict[str, Any]:
            save_result(result, scene, path, "PNG", "8")
            return provenance(
                param, "sequencer", path, scene, frame=shown, width=size[0], height=size[1], image=scene.name
            )

        return finish

    restore = [
        (render, "use_sequencer"),
        (render, "resolution_x"),
        (render, "resolution_y"),
        (render, "resolution_percentage"),
        (SceneFrame(scene), "frame"),
    ]
    return prepared("sequencer", param, scene, None, restore, apply, output=(path, "PNG", "8"))


def capture_sequencer(folder: str | Path, **options: Any) -> dict[str, Any]:
    """Render the Sequencer frame in place (see `prepare_sequencer`) and write the PNG; returns the provenance."""
    return prepare_sequencer(folder, **options).run()


def _strips(scene: Any) -> Any:
    editor = scene.sequence_editor
    return getattr(editor, "strips_all", None) or getattr(editor, "sequences_all", ())


def prepare(source: str, folder: str | Path, **options: Any) -> Prepared | None:
    """The render step of a capture set up (see `Prepared`), or None for a source that renders nothing slow (the
    Image Editor's image, the viewport): `capture` makes those at once."""
    if source == "camera":
        return prepare_camera(folder, **options)
    if source in PASSES:
        return prepare_pass(source, folder, **options)
    if source == "sequencer":
        return prepare_sequencer(folder, **options)
    if source in ("image_editor", "viewport"):
        return None
    raise CaptureError(f'Unknown image source "{source}": use one of {", ".join(SOURCES)}.')


def capture(source: str, folder: str | Path, **options: Any) -> dict[str, Any]:
    """One entry point for the UI, the operator and the headless runner: `source` is one of SOURCES. Blocking: the
    render (if any) is made in place."""
    if source == "image_editor":
        return capture_image(folder, **options)
    if source == "viewport":
        return capture_viewport(folder, **options)
    prep = prepare(source, folder, **options)
    assert prep is not None  # every other source renders
    return prep.run()
