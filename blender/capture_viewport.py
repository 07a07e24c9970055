"""Viewport capture: the 3D View the user is looking at, as they see it (its shading, its view or camera, no UI), at
the job's size. Main thread only (bpy); imports only bpy and `capture_common` (the headless worker loads it too).

It is Blender's own "Viewport Render Image" (`render.opengl` with `view_context`), run in the 3D View's main
region: overlays and gizmos are not drawn, everything else is what the view shows. A 3D View needs a window, so in
background mode (scripts, the bpy module, the headless CLI) it says to use the camera sources instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from .capture_common import (
    CaptureError,
    SceneFrame,
    go_to_frame,
    out_path,
    provenance,
    resolve_frame,
    save_result,
    saved,
)

NO_VIEW = "Viewport capture needs a 3D View on screen; use Camera or Preview in scripts."


def find_view3d(context: Any = None) -> tuple[Any, Any, Any] | None:
    """(window, area, main region) of the 3D View to capture: the context's own, else the largest one in the
    context's window, else in any window; None in background mode or when no 3D View is open."""
    context = context or bpy.context
    wm = getattr(context, "window_manager", None)
    if bpy.app.background or wm is None or not wm.windows:
        return None
    area = getattr(context, "area", None)
    window = getattr(context, "window", None)
    if area is not None and area.type == "VIEW_3D" and window is not None:
        return window, area, _main_region(area)
    windows = ([window] if window is not None else []) + [w for w in wm.windows if w != window]
    for win in windows:
        views = [a for a in win.screen.areas if a.type == "VIEW_3D"]
        if views:
            best = max(views, key=lambda a: a.width * a.height)
            return win, best, _main_region(best)
    return None


def _main_region(area: Any) -> Any:
    return next(r for r in area.regions if r.type == "WINDOW")


def capture_viewport(
    folder: str | Path,
    *,
    param: str = "image",
    scene: Any = None,
    width: int | None = None,
    height: int | None = None,
    context: Any = None,
    frame: int | str | None = None,
) -> dict[str, Any]:
    """Render the 3D View as shown (see the module docstring) at `width` x `height` and `frame` (see
    `capture_common.resolve_frame`; put back afterwards) into
    `<folder>/capture-<param>-viewport.png`; returns the provenance (view, shading, camera when looking through
    one). Raises CaptureError without a 3D View on screen."""
    found = find_view3d(context)
    if found is None:
        raise CaptureError(NO_VIEW)
    window, area, region = found
    space = area.spaces.active
    view = space.region_3d
    scene = scene or window.scene
    render = scene.render
    path = out_path(folder, f"capture-{param}-viewport.png")
    at = resolve_frame(scene, frame)
    kept = ((render, "resolution_x"), (render, "resolution_y"), (render, "resolution_percentage"))
    with saved(*kept, (scene, "camera"), (SceneFrame(scene), "frame")):
        go_to_frame(scene, at)
        shown = scene.frame_current
        render.resolution_x, render.resolution_y = width or render.resolution_x, height or render.resolution_y
        render.resolution_percentage = 100
        size = (render.resolution_x, render.resolution_y)
        override = {"window": window, "screen": window.screen, "area": area, "region": region, "scene": scene}
        try:
            with bpy.context.temp_override(**override):
                finished = bpy.ops.render.opengl(write_still=False, view_context=True)
        except RuntimeError as exc:
            raise CaptureError(f"Blender could not render the 3D View ({exc}).") from None
        result = bpy.data.images.get("Render Result")
        if finished != {"FINISHED"} or result is None:
            raise CaptureError("Blender could not render the 3D View; see the console for why.")
        save_result(result, scene, path, "PNG", "8")
        perspective = view.view_perspective  # PERSP, ORTHO or CAMERA (looking through the scene camera)
        camera = scene.camera.name if perspective == "CAMERA" and scene.camera is not None else ""
    return provenance(
        param,
        "viewport",
        path,
        scene,
        camera=camera,
        frame=shown,
        view=perspective,
        shading=space.shading.type,
        area=f"{area.width}x{area.height}",
        width=size[0],
        height=size[1],
        bit_depth=8,
    )
