"""Cast operators: add or remove a cast member, add a reference image (a file, a camera render of the character's
model, the Image Editor's image) or remove one. Main thread; the rules are in `cast` (plain data), the captures in
`blender.capture`: invoked from the panel, a camera render runs as Blender's render job through `CaptureModal` (the
window keeps drawing); scripts and the bpy module render in place."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .. import blender
from ..blender import capture
from ..blender.bpytypes import OperatorResult
from ..blender.redraw import tag_genbridge_regions
from ..operators.generate_modal import CaptureModal
from ..runtime.loop import BLOCKING_PARK_WAIT_S
from .cast import character_seed

REFERENCE_SIZE = 512  # a reference is a portrait of the character, not a frame of the shot
SOURCE_ITEMS = [
    ("FILE", "File", "An image file on disk"),
    ("CAMERA", "Camera Render", "Render the active (or named) camera: frame the character's model with it"),
    ("IMAGE_EDITOR", "Active Image", "The image shown in the Image Editor (Render Result and painted images too)"),
]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:40] or "character"


def _member(context: Any, index: int) -> Any:
    cast = context.scene.genbridge_storyboard.cast
    return cast[index] if 0 <= index < len(cast) else None


class GENBRIDGE_OT_cast_add(bpy.types.Operator):
    """Add a character to the cast (the shot list's characters are added by themselves)"""

    bl_idname = "genbridge.cast_add"
    bl_label = "Add Cast Member"
    bl_options = {"REGISTER", "UNDO"}

    member_name: StringProperty(name="Name", description="The name the shot list uses")

    def execute(self, context: Any) -> OperatorResult:
        cast = context.scene.genbridge_storyboard.cast
        name = self.member_name.strip() or f"Character {len(cast) + 1}"
        if any(m.name.casefold() == name.casefold() for m in cast):
            self.report({"ERROR"}, f'"{name}" is already in the cast')
            return {"CANCELLED"}
        member = cast.add()
        member.name, member.seed = name, character_seed(name)
        return {"FINISHED"}


class GENBRIDGE_OT_cast_remove(bpy.types.Operator):
    """Remove this character from the cast (its reference files stay on disk)"""

    bl_idname = "genbridge.cast_remove"
    bl_label = "Remove Cast Member"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Member", min=0)

    def execute(self, context: Any) -> OperatorResult:
        cast = context.scene.genbridge_storyboard.cast
        if not 0 <= self.index < len(cast):
            self.report({"ERROR"}, f"There is no cast member {self.index + 1}")
            return {"CANCELLED"}
        cast.remove(self.index)
        return {"FINISHED"}


class GENBRIDGE_OT_cast_add_reference(CaptureModal):
    """Add a reference image of this character: every keyframe with them keeps this look"""

    bl_idname = "genbridge.cast_add_reference"
    bl_label = "Add Reference"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Member", min=0)
    source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="FILE")
    filepath: StringProperty(name="Image", subtype="FILE_PATH")
    camera: StringProperty(name="Camera", description="Camera object to render (empty: the scene's camera)")
    engine: EnumProperty(
        name="Engine",
        items=[("WORKBENCH", "Workbench", "Fast"), ("EEVEE", "EEVEE", ""), ("SCENE", "Scene's Engine", "")],
        default="WORKBENCH",
    )

    @classmethod
    def poll(cls, context: Any) -> bool:
        if blender.current() is None:
            cls.poll_message_set("GenBridge is not enabled")
            return False
        return True

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        if self.source == "FILE" and not self.filepath:
            context.window_manager.fileselect_add(self)
            return {"RUNNING_MODAL"}
        if self.source != "CAMERA":
            return self.execute(context)
        # From the panel's button: the camera render runs as Blender's render job (a modal, like Generate's
        # captures), so the window keeps drawing; it held the main thread 0.4-0.6 s in the real GUI before.
        return super().invoke(context, event)

    def request(self, context: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
        """The capture to make (CaptureModal): one camera render into the character's cast folder."""
        member = _member(context, self.index)
        if member is None:
            self.report({"ERROR"}, f"There is no cast member {self.index + 1}")
            return None
        self._for = member.name
        slug = _slug(member.name)
        options = {"source": "camera", "camera": self.camera or None, "engine": self.engine}
        options |= {"width": REFERENCE_SIZE, "height": REFERENCE_SIZE}
        return {"id": slug, "task": "cast"}, {f"{slug}-{len(member.references) + 1}": options}

    def captured(self, context: Any, run: Any) -> OperatorResult:
        """The render is written: it becomes the character's reference (looked up by name: the list may have
        changed while it rendered)."""
        record = run.records[0]
        cast = context.scene.genbridge_storyboard.cast
        member = next((m for m in cast if m.name == getattr(self, "_for", "")), None)
        if member is None:
            Path(record["path"]).unlink(missing_ok=True)
            self.report({"ERROR"}, "GenBridge: the cast member was removed while their reference rendered")
            return {"CANCELLED"}
        self._add(member, str(record["path"]), record)
        tag_genbridge_regions(context.window_manager)  # the Cast panel shows the new reference
        return {"FINISHED"}

    def _add(self, member: Any, path: str, provenance: dict[str, Any]) -> None:
        ref = member.references.add()
        ref.path, ref.source = path, self.source.lower()
        ref.provenance = json.dumps(provenance, default=str)
        self.report({"INFO"}, f"GenBridge: {member.name} now has {len(member.references)} reference(s)")

    def execute(self, context: Any) -> OperatorResult:
        member = _member(context, self.index)
        if member is None:
            self.report({"ERROR"}, f"There is no cast member {self.index + 1}")
            return {"CANCELLED"}
        try:
            path, provenance = self._image(context, member)
        except (capture.CaptureError, OSError, RuntimeError) as exc:  # say it; the cast stays as it was
            self.report({"ERROR"}, f"GenBridge: no reference added for {member.name}: {exc}")
            return {"CANCELLED"}
        self._add(member, path, provenance)
        return {"FINISHED"}

    def _image(self, context: Any, member: Any) -> tuple[str, dict[str, Any]]:
        if self.source == "FILE":
            path = Path(bpy.path.abspath(self.filepath)).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"the image {path} does not exist; pick an image file")
            return str(path.resolve()), {"file": str(path.resolve())}
        session = blender.running()
        folder = session.job_folder("cast", _slug(member.name))
        param = f"{_slug(member.name)}-{len(member.references) + 1}"
        if self.source == "CAMERA":
            with session.runtime.held_still(BLOCKING_PARK_WAIT_S):  # Blender renders here: see Runtime.held_still
                record = capture.capture_camera(
                    folder,
                    param=param,
                    scene=context.scene,
                    camera=self.camera or None,
                    width=REFERENCE_SIZE,
                    height=REFERENCE_SIZE,
                    engine=self.engine,
                )
        else:
            record = capture.capture_image(folder, param=param, scene=context.scene)
        return str(record["path"]), record


class GENBRIDGE_OT_cast_remove_reference(bpy.types.Operator):
    """Remove this reference image from the character (the file stays on disk)"""

    bl_idname = "genbridge.cast_remove_reference"
    bl_label = "Remove Reference"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Member", min=0)
    reference: IntProperty(name="Reference", min=0)

    def execute(self, context: Any) -> OperatorResult:
        member = _member(context, self.index)
        if member is None or not 0 <= self.reference < len(member.references):
            self.report({"ERROR"}, "There is no such reference")
            return {"CANCELLED"}
        member.references.remove(self.reference)
        return {"FINISHED"}


CLASSES = (
    GENBRIDGE_OT_cast_add,
    GENBRIDGE_OT_cast_remove,
    GENBRIDGE_OT_cast_add_reference,
    GENBRIDGE_OT_cast_remove_reference,
)
