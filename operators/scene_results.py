"""Results back into the scene: "Use as Texture" (a material with the image on the selected objects) and "Camera
Background" (the image as a reference behind the camera view). Main thread, plain bpy data edits, undoable."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import StringProperty

from ..blender.bpytypes import OperatorResult


def _image(context: Any, name: str) -> Any:
    """The named image; else the one of the Image Editor it is run in; else the landed image of the job selected in
    GenBridge's job list (F3 in the 3D Viewport right after a Generate: that result, not an older image some Image
    Editor shows); else the one any Image Editor on screen shows."""
    if name:
        return bpy.data.images.get(name)
    from ..blender.capture import active_editor_image

    space = getattr(context, "space_data", None)
    if space is not None and getattr(space, "type", "") == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    return selected_job_image(context) or active_editor_image(context)


def selected_job_image(context: Any) -> Any:
    """The image the job selected in the job list landed (`image_name` on its row), or None."""
    from .. import blender
    from ..blender.joblist import active_job_id

    session = blender.current()
    job_id = active_job_id(context.window_manager) if session is not None else None
    row = session.jobs.get(job_id or "") if session is not None else None
    name = (row or {}).get("image_name")
    return bpy.data.images.get(name) if name else None


def texture_material(image: Any) -> Any:
    """A material named after the image: its colour from an Image Texture node into the Principled BSDF."""
    name = f"GenBridge {image.name}"
    mat: Any = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None) or nodes.new("ShaderNodeBsdfPrincipled")
    tex: Any = next((n for n in nodes if n.type == "TEX_IMAGE"), None) or nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.location = (bsdf.location.x - 300, bsdf.location.y)
    links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def use_as_texture(image: Any, objects: list[Any]) -> list[str]:
    """Put the image's material on each object that can hold one (first slot); returns their names."""
    mat = texture_material(image)
    done = []
    for obj in objects:
        if obj.type not in ("MESH", "CURVE", "SURFACE", "META", "FONT"):
            continue
        if obj.data.materials:
            obj.data.materials[0] = mat
        else:
            obj.data.materials.append(mat)
        done.append(obj.name)
    return done


def camera_background(image: Any, camera: Any, alpha: float = 0.5) -> Any:
    """Show the image behind the camera view (a camera background image, reused if already there)."""
    data = camera.data
    data.show_background_images = True
    bg = next((b for b in data.background_images if b.image == image), None) or data.background_images.new()
    bg.image, bg.alpha, bg.display_depth, bg.show_background_image = image, alpha, "BACK", True
    return bg


class GENBRIDGE_OT_use_as_texture(bpy.types.Operator):
    """Put the image on the selected objects as a material (an Image Texture into the Principled BSDF)"""

    bl_idname = "genbridge.use_as_texture"
    bl_label = "Use as Texture"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(
        name="Image", description="Image to use (empty: the Image Editor's, else the selected GenBridge job's)"
    )

    def execute(self, context: Any) -> OperatorResult:
        image = _image(context, self.image)
        if image is None:
            self.report({"ERROR"}, "Name an image, show one in the Image Editor, or select a finished image job")
            return {"CANCELLED"}
        done = use_as_texture(image, list(context.selected_objects))
        if not done:
            self.report({"ERROR"}, "Select the objects to texture (meshes, curves or text)")
            return {"CANCELLED"}
        self.report({"INFO"}, f"{image.name} on {', '.join(done)}")
        return {"FINISHED"}


class GENBRIDGE_OT_camera_background(bpy.types.Operator):
    """Show the image as a reference behind the active camera's view"""

    bl_idname = "genbridge.camera_background"
    bl_label = "Camera Background"
    bl_options = {"REGISTER", "UNDO"}

    image: StringProperty(
        name="Image", description="Image to show (empty: the Image Editor's, else the selected GenBridge job's)"
    )

    def execute(self, context: Any) -> OperatorResult:
        image = _image(context, self.image)
        if image is None:
            self.report({"ERROR"}, "Name an image, show one in the Image Editor, or select a finished image job")
            return {"CANCELLED"}
        camera = context.scene.camera if context.scene else None
        if camera is None:
            self.report({"ERROR"}, "The scene has no active camera")
            return {"CANCELLED"}
        camera_background(image, camera)
        self.report({"INFO"}, f"{image.name} behind {camera.name}")
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_use_as_texture, GENBRIDGE_OT_camera_background)
