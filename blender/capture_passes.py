"""Depth, normal and mist passes and object masks of the camera view, normalised for ControlNet (see
`blender/capture.py` for how and why). Main thread only (bpy); the slow, bpy-free half of finishing a pass
(`pass_png.encode`) may run in any thread."""

from __future__ import annotations

import os
import tempfile
from array import array
from pathlib import Path
from typing import Any

import bpy

from . import pass_png
from .capture_common import (
    CaptureError,
    Finishing,
    Prepared,
    SceneFrame,
    SplitFinish,
    find_camera,
    find_view_layer,
    go_to_frame,
    out_path,
    prepared,
    provenance,
    resolve_frame,
    save_result,
)

PASSES = ("depth", "normal", "mist", "mask")


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


FORCE_PLAIN = False  # True: the plain-Python path of a Blender without numpy, here too (tests, bench/main_thread.py)


def _has_numpy() -> bool:
    if FORCE_PLAIN:
        return False
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def read_pass(exr: Path) -> tuple[Any, int, int]:
    """(flat float32 RGBA pixels with row 0 = bottom, width, height) of the raw pass's EXR: a numpy array when Blender
    has numpy, else an `array('f')` for `plain_pixels` (distribution builds such as Debian's ship Blender without
    numpy). Main thread (bpy); `foreach_get` fills the buffer in C, a few ms at 1280x720."""
    use_numpy = _has_numpy()
    img: Any = bpy.data.images.load(str(exr), check_existing=False)
    try:
        width, height = img.size
        if use_numpy:
            import numpy as np

            buf: Any = np.empty(width * height * 4, dtype=np.float32)
        else:
            buf = array("f", [0.0]) * (width * height * 4)  # repeated in C: ~1 ms, bytes(n) first took ~8
        img.pixels.foreach_get(buf)
    finally:
        bpy.data.images.remove(img)
    return buf, width, height


def mist_of(scene: Any) -> pass_png.Mist:
    """The world's mist start, depth and falloff as plain data (Blender's defaults when the scene has no world)."""
    mist = scene.world.mist_settings if scene.world else None
    return (float(mist.start), float(mist.depth), str(mist.falloff)) if mist else (5.0, 25.0, "QUADRATIC")


def prepare_pass(
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
    frame: int | str | None = None,
) -> Prepared:
    """Set the scene up to render a depth / normal / mist pass or a mask of `objects` (default: the selected ones) of
    the (named, else active) camera's view at `frame` (as `capture.prepare_camera`); finishing writes the normalised
    8- or 16-bit PNG `<folder>/capture-<param>-<kind>.png`."""
    if kind not in PASSES:
        raise CaptureError(f'Unknown pass "{kind}": use one of {", ".join(PASSES)}.')
    if bit_depth not in (8, 16):
        raise CaptureError(f"A pass is written with 8 or 16 bits per channel, not {bit_depth}.")
    scene = scene or bpy.context.scene
    at = resolve_frame(scene, frame)
    if camera or at is None:
        find_camera(scene, camera)  # a wrong name (or no active camera) fails before anything changes
    layer = find_view_layer(scene, view_layer)
    masked: list[Any] = []
    if kind == "mask":
        names = objects if objects is not None else [o.name for o in bpy.context.selected_objects]
        masked = [bpy.data.objects[n] for n in names if n in bpy.data.objects]
        if not masked:
            raise CaptureError("Select the objects to mask (the mask is white where they are seen).")
    render = scene.render
    path = out_path(folder, f"capture-{param}-{kind}.png")
    cycles = _cycles_settings(scene)
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
        (SceneFrame(scene), "frame"),  # last, so put back first: the other values are then restored over it
    ]
    mat = _pass_material(kind)
    fd, tmp_name = tempfile.mkstemp(suffix=".exr", prefix="genbridge-pass-")
    os.close(fd)
    tmp = Path(tmp_name)

    def drop_material() -> None:
        bpy.data.materials.remove(mat)

    def apply() -> Any:
        go_to_frame(scene, at)
        cam = find_camera(scene, camera)  # after the frame: the active camera of that frame
        scene.camera = cam
        shown = scene.frame_current
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

        def finish_later(result: Any) -> Finishing:
            # The main thread's part: the EXR read into a buffer and the provenance made (bpy); the normalising and
            # PNG encoding (`pass_png.encode`, no bpy) runs later, in a worker thread on the GUI's path.
            save_result(result, scene, tmp, "OPEN_EXR", "32")
            pixels, pass_width, pass_height = read_pass(tmp)
            mist = mist_of(scene)

            def encode() -> bytes:
                return pass_png.encode(kind, pixels, pass_width, pass_height, mist, bit_depth)

            extra: dict[str, Any] = {"image": ", ".join(o.name for o in masked)} if kind == "mask" else {}
            record = provenance(
                param,
                kind,
                path,
                scene,
                camera=cam.name,
                frame=shown,
                view_layer=layer.name,
                engine="CYCLES",
                width=size[0],
                height=size[1],
                bit_depth=bit_depth,
                **extra,
            )
            return Finishing(path, encode, record)

        return SplitFinish(finish_later)

    # The settings are restored before the material goes: the view layer must not point at a removed material.
    cleanup = [lambda: tmp.unlink(missing_ok=True), drop_material]
    return prepared(kind, param, scene, layer, restore, apply, cleanup, output=(tmp, "OPEN_EXR", "32"))


def capture_pass(kind: str, folder: str | Path, **options: Any) -> dict[str, Any]:
    """Render a pass in place (see `prepare_pass`) and write its PNG; returns the provenance."""
    return prepare_pass(kind, folder, **options).run()
