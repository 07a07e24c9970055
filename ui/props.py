"""Properties the panels draw: generate settings on the Scene (saved with the .blend, never keys) and the job
list rows on the WindowManager (session-only; each row names a job in the session's plain-data cache)."""

from __future__ import annotations

import bpy
from bpy.props import CollectionProperty, EnumProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup

from ..blender.choices import IMAGE_SOURCES, SERVICES, TASKS


class GENBRIDGE_PG_generate(PropertyGroup):
    """What the Generate button sends: task, prompts, template, size, frames, steps, seed, service."""

    task: EnumProperty(name="Task", items=TASKS, default="image", description="What to generate")
    prompt: StringProperty(name="Prompt", description="What you want to see (or read, for text tasks)")
    negative_prompt: StringProperty(name="Negative Prompt", description="What you do not want to see")
    template: StringProperty(name="Template", description="Workflow template (empty: the task's default)")
    width: IntProperty(name="Width", default=832, min=64, max=8192, step=16, subtype="PIXEL")
    height: IntProperty(name="Height", default=480, min=64, max=8192, step=16, subtype="PIXEL")
    frames: IntProperty(name="Frames", default=33, min=1, max=1025, description="Video length in frames")
    steps: IntProperty(name="Steps", default=20, min=1, max=200, description="Sampling steps")
    seed: IntProperty(name="Seed", default=-1, min=-1, description="-1 picks a random seed (recorded with the job)")
    service: EnumProperty(name="Service", items=SERVICES, default="AUTO", description="Which service runs the job")
    result_name: StringProperty(name="Result Name", description="Name of the image, strip or text block")
    image_source: EnumProperty(
        name="Image Source", items=IMAGE_SOURCES, default="NONE", description="Where the template's image comes from"
    )
    image_param: StringProperty(
        name="Image Parameter", default="image", description="The template's image parameter it feeds"
    )
    image_path: StringProperty(name="Image File", subtype="FILE_PATH", description="Used when the source is File")
    image_name: StringProperty(name="Image", description="Image Editor source: the image (empty: the one shown)")


class GENBRIDGE_PG_job_row(PropertyGroup):
    """One row of the job list: only the job id; everything else comes from the session's cache at draw time."""

    job_id: StringProperty(name="Job ID")


CLASSES = (GENBRIDGE_PG_generate, GENBRIDGE_PG_job_row)


def register() -> None:
    # Properties added at runtime (unknown to the stubs, whose property functions claim to return None).
    bpy.types.Scene.genbridge = PointerProperty(type=GENBRIDGE_PG_generate)  # type: ignore[attr-defined,func-returns-value]
    wm = bpy.types.WindowManager
    wm.genbridge_jobs = CollectionProperty(type=GENBRIDGE_PG_job_row)  # type: ignore[attr-defined,func-returns-value]
    wm.genbridge_job_index = IntProperty(  # type: ignore[attr-defined,func-returns-value]
        name="Active Job", default=0, min=0
    )


def unregister() -> None:
    for owner, name in (
        (bpy.types.WindowManager, "genbridge_job_index"),
        (bpy.types.WindowManager, "genbridge_jobs"),
        (bpy.types.Scene, "genbridge"),
    ):
        if hasattr(owner, name):
            delattr(owner, name)
