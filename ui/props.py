"""Properties the panels draw: generate settings on the Scene (saved with the .blend, never keys) and the job
list rows on the WindowManager (session-only; each row names a job in the session's plain-data cache)."""

from __future__ import annotations

import bpy
from bpy.props import CollectionProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup

from ..blender.generate_props import with_generate_properties


@with_generate_properties  # task, prompts, template, size, frames, steps, seed, service, image input
class GENBRIDGE_PG_generate(PropertyGroup):
    """What the Generate button sends (the fields of `blender.choices.GENERATE`), saved with the .blend."""


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
