"""Depth, normal and mist passes and object masks of the camera view, normalised for ControlNet (see
`blender/capture.py` for how and why). Main thread only (bpy)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import bpy

from .capture_common import (
    CaptureError,
    Prepared,
    SceneFrame,
    find_camera,
    find_view_layer,
    go_to_frame,
    out_path,
    prepared,
    provenance,
    resolve_frame,
    save_result,
    write_png,
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


def _has_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def _write_pass(path: Path, kind: str, exr: Path, scene: Any, bit_depth: int) -> None:
    """The raw pass (a float EXR) normalised into an 8/16-bit PNG: with numpy when Blender has it, else in plain
    Python (`plain_pixels`: distribution builds such as Debian's ship Blender without numpy)."""
    if _has_numpy():
        write_png(path, _normalise(kind, _read_exr(exr), scene), bit_depth)
        return
    from array import array

    from . import plain_pixels

    img: Any = bpy.data.images.load(str(exr), check_existing=False)
    try:
        width, height = img.size
        buf = array("f", bytes(4 * width * height * 4))
        img.pixels.foreach_get(buf)
    finally:
        bpy.data.images.remove(img)
    mist = scene.world.mist_settings if scene.world else None
    settings = (mist.start, mist.depth, mist.falloff) if mist else (5.0, 25.0, "QUADRATIC")
    channels, values = plain_pixels.normalise(kind, buf, width, height, settings)
    Path(path).write_bytes(plain_pixels.png_bytes(values, width, height, channels, bit_depth))


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

        def finish(result: Any) -> dict[str, Any]:
            save_result(result, scene, tmp, "OPEN_EXR", "32")
            _write_pass(path, kind, tmp, scene, bit_depth)
            extra: dict[str, Any] = {"image": ", ".join(o.name for o in masked)} if kind == "mask" else {}
            return provenance(
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

        return finish

    # The settings are restored before the material goes: the view layer must not point at a removed material.
    cleanup = [lambda: tmp.unlink(missing_ok=True), drop_material]
    return prepared(kind, param, scene, layer, restore, apply, cleanup, output=(tmp, "OPEN_EXR", "32"))


def capture_pass(kind: str, folder: str | Path, **options: Any) -> dict[str, Any]:
    """Render a pass in place (see `prepare_pass`) and write its PNG; returns the provenance."""
    return prepare_pass(kind, folder, **options).run()
