"""Generate: snapshot the generate settings and the insertion point, then enqueue one job."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .. import bridge

TASKS = [
    ("image", "Image", "A still image (ComfyUI)"),
    ("character_image", "Character Image", "An image that keeps a character from a reference (ComfyUI)"),
    ("quick_preview", "Quick Video Preview", "A fast, light video preview (Wan2GP, or ComfyUI)"),
    ("final_video", "Final Video", "A full-quality video (ComfyUI, or Wan2GP)"),
    ("upscale", "Upscale", "Upscale an image (ComfyUI)"),
    ("text", "Text", "Text from a prompt (LiteLLM)"),
]
SERVICES = [
    ("AUTO", "Auto", "Let GenBridge pick the service from the task, free VRAM and load"),
    ("comfyui", "ComfyUI", ""),
    ("wan2gp", "Wan2GP", ""),
    ("litellm", "LiteLLM", ""),
]
VIDEO_TASKS = {"quick_preview", "final_video", "video"}


def target_for(task: str, context: Any, name: str) -> dict[str, Any]:
    """Decide at enqueue time where the result lands: text block, Image Editor, or the Sequencer at the playhead."""
    scene = context.scene
    if task in ("text", "shotlist", "prompt"):
        return {"kind": "text", "name": name or "GenBridge Text"}
    space = getattr(context, "space_data", None)
    if task in VIDEO_TASKS or (space is not None and space.type == "SEQUENCE_EDITOR"):
        return {
            "kind": "movie_strip" if task in VIDEO_TASKS else "image_strip",
            "scene": scene.name,
            "channel": free_channel(scene, scene.frame_current),
            "frame_start": scene.frame_current,
            "name": name,
        }
    return {
        "kind": "image",
        "name": name,
        "scene": scene.name,
        "show_in_image_editor": space is not None and space.type == "IMAGE_EDITOR",
    }


def free_channel(scene: Any, frame: int) -> int:
    """The lowest channel with no strip at `frame`, so a result never lands on top of existing work."""
    editor = scene.sequence_editor
    if editor is None:
        return 1
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    used = {s.channel for s in strips if s.frame_final_start <= frame < s.frame_final_end}
    channel = 1
    while channel in used:
        channel += 1
    return channel


class GENBRIDGE_OT_generate(bpy.types.Operator):
    """Generate with the settings of the GenBridge panel"""

    bl_idname = "genbridge.generate"
    bl_label = "Generate"
    bl_description = "Send a generation job to the best available service; the result lands in Blender when done"
    bl_options = {"REGISTER"}

    task: EnumProperty(name="Task", items=TASKS, default="image")
    prompt: StringProperty(name="Prompt")
    negative_prompt: StringProperty(name="Negative Prompt")
    template: StringProperty(name="Template", description="Workflow template (empty: the task's default)")
    width: IntProperty(name="Width", default=832, min=64, max=8192, step=16)
    height: IntProperty(name="Height", default=480, min=64, max=8192, step=16)
    frames: IntProperty(name="Frames", default=33, min=1, max=1025)
    steps: IntProperty(name="Steps", default=20, min=1, max=200)
    seed: IntProperty(name="Seed", default=-1, min=-1, description="-1 picks a random seed (recorded with the job)")
    service: EnumProperty(name="Service", items=SERVICES, default="AUTO")
    result_name: StringProperty(name="Result Name", description="Name of the image, strip or text block")

    @classmethod
    def poll(cls, context: Any) -> bool:
        if bridge.SESSION is None:
            cls.poll_message_set("GenBridge is not enabled")
            return False
        return True

    def execute(self, context: Any) -> set[str]:
        if not self.prompt.strip():
            self.report({"ERROR"}, "Write a prompt first: GenBridge has nothing to generate from.")
            return {"CANCELLED"}
        inputs: dict[str, Any] = {"prompt": self.prompt, "seed": self.seed}
        if self.task != "text":
            inputs.update(width=self.width, height=self.height, steps=self.steps)
            if self.negative_prompt:
                inputs["negative_prompt"] = self.negative_prompt
        if self.task in VIDEO_TASKS:
            inputs["frames"] = self.frames
        spec = {
            "task": self.task,
            "inputs": inputs,
            "template": self.template or None,
            "requested_service": None if self.service == "AUTO" else self.service,
            "target": target_for(self.task, context, self.result_name),
        }
        job_id = bridge.session().submit(spec)
        self.report({"INFO"}, f"GenBridge job {job_id[:8]} queued")
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_generate,)
