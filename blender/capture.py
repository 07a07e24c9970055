"""Blender as the source: camera renders, depth / normal / mist passes, object masks, the Image Editor's image and
the Sequencer frame, each written as a PNG into the job's output folder with plain-data provenance.

Thread rules: main thread only (bpy). Nothing here imports the core's pydantic models: a capture returns a plain
dict with the fields of `runtime.jobs.CaptureInfo`, which the caller puts in the job spec's `captures`.

How the passes are made (decided for robustness on 4.2-5.0 and on machines without a GPU): the compositor's API
changed in 5.0 and render-result pixels cannot be read in background mode, so a pass is a one-sample Cycles (CPU)
render with a view-layer material override that emits the raw value (camera-space depth, distance, normal, or the
object index set on the selected objects), saved as float EXR to a temporary file, read back and normalised with
numpy, then written as an 8- or 16-bit PNG by a small PNG writer (no colour management in the way):

- depth: near = white, far = dark (linear between the nearest and farthest visible surface, 0.05..1), background
  black, as ControlNet depth preprocessors (MiDaS / Depth Anything) produce;
- normal: camera-space normal mapped to RGB = n * 0.5 + 0.5 (facing the camera = (128, 128, 255)), background black;
- mist: Blender's mist (world mist start / depth / falloff): 0 near, 1 far and for the background;
- mask: white where a selected object is visible (occlusion respected), black elsewhere.

A capture is synchronous (`bpy.ops.render.render`): small previews take well under a second, a 1280x720 pass a few
seconds on CPU (`bench/main_thread.py` reports the gap). The UI runs it from a modal operator step so the job is
queued when the capture is done; nothing here runs inside draw() or a timer.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bpy

PASSES = ("depth", "normal", "mist", "mask")
SOURCES = ("camera", *PASSES, "image_editor", "sequencer")
PREVIEW_ENGINES = {"SCENE": "", "WORKBENCH": "BLENDER_WORKBENCH", "EEVEE": "EEVEE", "CYCLES": "CYCLES"}


class CaptureError(Exception):
    """A capture that cannot be made; the message says what to do (shown to the user as is)."""


# ------------------------------------------------------------------------------------------------ PNG writer


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


# ------------------------------------------------------------------------------------------------ helpers


def _eevee_id() -> str:
    prop: Any = bpy.types.RenderSettings.bl_rna.properties["engine"]
    items = {e.identifier for e in prop.enum_items}
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def _camera(scene: Any, camera: str | None) -> Any:
    if camera:
        obj = bpy.data.objects.get(camera)
        if obj is None or obj.type != "CAMERA":
            names = ", ".join(o.name for o in bpy.data.objects if o.type == "CAMERA") or "none"
            raise CaptureError(f'There is no camera called "{camera}" (cameras: {names}).')
        return obj
    if scene.camera is None:
        raise CaptureError("The scene has no active camera: add one, or pick it in Scene Properties > Camera.")
    return scene.camera


def _view_layer(scene: Any, name: str | None) -> Any:
    if not name:
        return bpy.context.view_layer if bpy.context.scene == scene else scene.view_layers[0]
    layer = scene.view_layers.get(name)
    if layer is None:
        names = ", ".join(v.name for v in scene.view_layers)
        raise CaptureError(f'The scene has no view layer "{name}" (view layers: {names}).')
    return layer


@contextmanager
def _saved(*pairs: tuple[Any, str]) -> Iterator[None]:
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


def _render(scene: Any, view_layer: Any | None) -> Any:
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


def _save_result(result: Any, scene: Any, path: Path, file_format: str, color_depth: str) -> None:
    settings = scene.render.image_settings
    with _saved((settings, "file_format"), (settings, "color_depth"), (settings, "color_mode")):
        settings.file_format = file_format
        settings.color_mode = "RGBA"
        settings.color_depth = color_depth
        result.save_render(str(path), scene=scene)


def _out(folder: str | Path, name: str) -> Path:
    """`<folder>/<name>`; the name carries a user-given parameter name, so anything but letters, digits, `-`, `_`
    and `.` is replaced: a capture never lands outside the job's folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name).lstrip(".") or "capture"
    return out / safe


def _provenance(param: str, source: str, path: Path, scene: Any, **extra: Any) -> dict[str, Any]:
    return {"param": param, "source": source, "path": str(path), "scene": scene.name, **extra}


# ------------------------------------------------------------------------------------------------ camera render


def capture_camera(
    folder: str | Path,
    *,
    param: str = "image",
    scene: Any = None,
    camera: str | None = None,
    width: int | None = None,
    height: int | None = None,
    engine: str = "SCENE",
    view_layer: str | None = None,
) -> dict[str, Any]:
    """Render the (active or named) camera at `width` x `height` with the scene's engine or a preview engine
    (`WORKBENCH`, `EEVEE`, `CYCLES`) and write `<folder>/capture-<param>-camera.png`; returns the provenance."""
    scene = scene or bpy.context.scene
    cam = _camera(scene, camera)
    layer = _view_layer(scene, view_layer) if view_layer else None
    if engine not in PREVIEW_ENGINES:
        raise CaptureError(f'Unknown preview engine "{engine}": use one of {", ".join(PREVIEW_ENGINES)}.')
    render = scene.render
    path = _out(folder, f"capture-{param}-camera.png")
    with _saved(
        (scene, "camera"),
        (render, "engine"),
        (render, "resolution_x"),
        (render, "resolution_y"),
        (render, "resolution_percentage"),
        (render, "use_sequencer"),
        (render, "use_compositing"),
    ):
        scene.camera = cam
        chosen = PREVIEW_ENGINES[engine]
        if chosen:
            render.engine = _eevee_id() if chosen == "EEVEE" else chosen
        render.resolution_x, render.resolution_y = width or render.resolution_x, height or render.resolution_y
        render.resolution_percentage = 100
        render.use_sequencer = False  # the camera, not the edit
        size = (render.resolution_x, render.resolution_y)
        used_engine = render.engine
        result = _render(scene, layer)
        _save_result(result, scene, path, "PNG", "8")
    return _provenance(
        param,
        "camera",
        path,
        scene,
        camera=cam.name,
        frame=scene.frame_current,
        view_layer=layer.name if layer else "",
        engine=used_engine,
        width=size[0],
        height=size[1],
        bit_depth=8,
    )


# ------------------------------------------------------------------------------------------------ passes


def _pass_material(kind: str) -> Any:
    """An emission-only override material whose colour is the raw pass value (see the module docstring)."""
    mat: Any = bpy.data.materials.new(f"GenBridge {kind} capture")  # Any: the stubs type node trees too loosely
    if bpy.app.version < (5, 0, 0):  # always True from 5.0 on (the property is deprecated there)
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    emit: Any = nodes.new("ShaderNodeEmission")
    emit.inputs["Strength"].default_value = 1.0
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    combine = nodes.new("ShaderNodeCombineXYZ")
    links.new(combine.outputs["Vector"], emit.inputs["Color"])
    if kind in ("depth", "mist"):
        cam = nodes.new("ShaderNodeCameraData")
        links.new(cam.outputs["View Z Depth"], combine.inputs["X"])
        links.new(cam.outputs["View Distance"], combine.inputs["Y"])
    elif kind == "normal":
        geo = nodes.new("ShaderNodeNewGeometry")
        xf: Any = nodes.new("ShaderNodeVectorTransform")
        xf.vector_type, xf.convert_from, xf.convert_to = "NORMAL", "WORLD", "CAMERA"
        links.new(geo.outputs["Normal"], xf.inputs["Vector"])
        links.new(xf.outputs["Vector"], emit.inputs["Color"])  # raw; signs kept in the float EXR
    elif kind == "mask":
        info = nodes.new("ShaderNodeObjectInfo")
        links.new(info.outputs["Object Index"], combine.inputs["X"])
    return mat


def _cycles_settings(scene: Any) -> Any:
    """The scene's Cycles settings; Cycles is a bundled add-on that a factory or isolated start may leave off."""
    if not hasattr(scene, "cycles"):
        import addon_utils

        addon_utils.enable("cycles", default_set=True)
    if not hasattr(scene, "cycles"):
        raise CaptureError("The passes are rendered with Cycles: enable the Cycles add-on in Preferences > Add-ons.")
    return scene.cycles


def _read_exr(path: Path) -> Any:
    """Float RGBA pixels of an EXR as a (height, width, 4) array, row 0 = top."""
    import numpy as np

    img: Any = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = img.size
        buf = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(buf)
    finally:
        bpy.data.images.remove(img)
    return buf.reshape(h, w, 4)[::-1]


def _normalise(kind: str, raw: Any, scene: Any) -> Any:
    import numpy as np

    alpha = raw[:, :, 3] > 0.5
    if kind == "depth":
        z = raw[:, :, 0]
        out = np.zeros(z.shape)
        if alpha.any():
            near, far = float(z[alpha].min()), float(z[alpha].max())
            span = max(far - near, 1e-6)
            out[alpha] = 0.05 + 0.95 * (far - z[alpha]) / span
        return out
    if kind == "mist":
        mist = scene.world.mist_settings if scene.world else None
        start, depth, falloff = (mist.start, mist.depth, mist.falloff) if mist else (5.0, 25.0, "QUADRATIC")
        m = np.clip((raw[:, :, 1] - start) / max(depth, 1e-6), 0.0, 1.0)
        m = {"QUADRATIC": m * m, "INVERSE_QUADRATIC": np.sqrt(m)}.get(falloff, m)
        return np.where(alpha, m, 1.0)
    if kind == "normal":
        # Cycles' camera space looks down +Z; ControlNet normal maps face the viewer with +Z (OpenGL): flip Z.
        rgb = raw[:, :, :3] * np.array([0.5, 0.5, -0.5]) + 0.5
        return np.where(alpha[:, :, None], rgb, 0.0)
    return np.where(alpha & (raw[:, :, 0] > 0.5), 1.0, 0.0)  # mask


def capture_pass(
    kind: str,
    folder: str | Path,
    *,
    param: str = "image",
    scene: Any = None,
    camera: str | None = None,
    width: int | None = None,
    height: int | None = None,
    view_layer: str | None = None,
    bit_depth: int = 8,
    objects: list[str] | None = None,
) -> dict[str, Any]:
    """A depth / normal / mist pass or a mask of `objects` (default: the selected ones) of the camera view, as a
    normalised 8- or 16-bit PNG `<folder>/capture-<param>-<kind>.png`; returns the provenance."""
    if kind not in PASSES:
        raise CaptureError(f'Unknown pass "{kind}": use one of {", ".join(PASSES)}.')
    if bit_depth not in (8, 16):
        raise CaptureError(f"A pass is written with 8 or 16 bits per channel, not {bit_depth}.")
    scene = scene or bpy.context.scene
    cam = _camera(scene, camera)
    layer = _view_layer(scene, view_layer)
    masked: list[Any] = []
    if kind == "mask":
        names = objects if objects is not None else [o.name for o in bpy.context.selected_objects]
        masked = [bpy.data.objects[n] for n in names if n in bpy.data.objects]
        if not masked:
            raise CaptureError("Select the objects to mask (the mask is white where they are seen).")
    render = scene.render
    path = _out(folder, f"capture-{param}-{kind}.png")
    cycles = _cycles_settings(scene)
    mat = _pass_material(kind)
    restore = [
        (scene, "camera"),
        (render, "engine"),
        (render, "resolution_x"),
        (render, "resolution_y"),
        (render, "resolution_percentage"),
        (render, "film_transparent"),
        (render, "use_sequencer"),
        (render, "use_compositing"),
        (layer, "material_override"),
        (cycles, "samples"),
        (cycles, "use_denoising"),
        (cycles, "device"),
        (cycles, "use_adaptive_sampling"),
        *((o, "pass_index") for o in bpy.data.objects if kind == "mask"),
    ]
    fd, tmp_name = tempfile.mkstemp(suffix=".exr", prefix="genbridge-pass-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _saved(*restore):
            scene.camera = cam
            render.engine = "CYCLES"
            render.resolution_x, render.resolution_y = width or render.resolution_x, height or render.resolution_y
            render.resolution_percentage = 100
            render.film_transparent = True  # background alpha 0: told apart from the farthest surface
            render.use_sequencer = render.use_compositing = False
            layer.material_override = mat
            cycles.samples, cycles.use_denoising, cycles.device = 1, False, "CPU"
            cycles.use_adaptive_sampling = False
            for obj in bpy.data.objects if kind == "mask" else ():
                obj.pass_index = 1 if obj in masked else 0
            size = (render.resolution_x, render.resolution_y)
            result = _render(scene, layer)
            _save_result(result, scene, tmp, "OPEN_EXR", "32")
        write_png(path, _normalise(kind, _read_exr(tmp), scene), bit_depth)
    finally:
        tmp.unlink(missing_ok=True)
        bpy.data.materials.remove(mat)
    extra: dict[str, Any] = {}
    if kind == "mask":
        extra["image"] = ", ".join(o.name for o in masked)
    return _provenance(
        param,
        kind,
        path,
        scene,
        camera=cam.name,
        frame=scene.frame_current,
        view_layer=layer.name,
        engine="CYCLES",
        width=size[0],
        height=size[1],
        bit_depth=bit_depth,
        **extra,
    )


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
    path = _out(folder, f"capture-{param}-image_editor.png")
    if image.type != "RENDER_RESULT" and not image.has_data and image.source != "GENERATED":
        image.reload()  # a file image not yet loaded: save_render needs its pixels
    view = scene.view_settings
    try:
        with _saved((view, "view_transform"), (view, "look"), (view, "exposure"), (view, "gamma")):
            if image.type != "RENDER_RESULT":  # a texture is sent as its pixels are, not through the render's look
                view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
            _save_result(image, scene, path, "PNG", "8")
    except RuntimeError as exc:
        raise CaptureError(f'The image "{image.name}" has no pixels to send ({exc}).') from None
    width, height = (scene.render.resolution_x, scene.render.resolution_y)
    if image.type != "RENDER_RESULT":
        width, height = image.size
    return _provenance(
        param, "image_editor", path, scene, image=image.name, frame=scene.frame_current, width=width, height=height
    )


def capture_sequencer(
    folder: str | Path,
    *,
    param: str = "image",
    scene: Any = None,
    frame: int | None = None,
    width: int | None = None,
    height: int | None = None,
) -> dict[str, Any]:
    """The Sequencer's composited frame under the playhead (or `frame`) as `<folder>/capture-<param>-sequencer.png`;
    returns the provenance."""
    scene = scene or bpy.context.scene
    if scene.sequence_editor is None or not _strips(scene):
        raise CaptureError(f'The scene "{scene.name}" has no Sequencer strips to capture.')
    render = scene.render
    path = _out(folder, f"capture-{param}-sequencer.png")
    with _saved(
        (scene, "frame_current"),
        (render, "use_sequencer"),
        (render, "resolution_x"),
        (render, "resolution_y"),
        (render, "resolution_percentage"),
    ):
        if frame is not None:
            scene.frame_set(frame)
        shown = scene.frame_current
        render.use_sequencer = True
        render.resolution_x, render.resolution_y = width or render.resolution_x, height or render.resolution_y
        render.resolution_percentage = 100
        size = (render.resolution_x, render.resolution_y)
        result = _render(scene, None)
        _save_result(result, scene, path, "PNG", "8")
    return _provenance(param, "sequencer", path, scene, frame=shown, width=size[0], height=size[1], image=scene.name)


def _strips(scene: Any) -> Any:
    editor = scene.sequence_editor
    return getattr(editor, "strips_all", None) or getattr(editor, "sequences_all", ())


def capture(source: str, folder: str | Path, **options: Any) -> dict[str, Any]:
    """One entry point for the UI, the operator and the headless runner: `source` is one of SOURCES."""
    if source == "camera":
        return capture_camera(folder, **options)
    if source in PASSES:
        return capture_pass(source, folder, **options)
    if source == "image_editor":
        return capture_image(folder, **options)
    if source == "sequencer":
        return capture_sequencer(folder, **options)
    raise CaptureError(f'Unknown image source "{source}": use one of {", ".join(SOURCES)}.')
