"""The storyboard on the scene: shots, their takes and the chosen take, saved with the .blend.

The logic lives in `model` and `plan` (plain data); this module only converts between those dataclasses and
the PropertyGroups (`read_shots` / `write_shots`), so every rule is tested without Blender.
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import CollectionProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup

from .model import Shot, Take, TakeStep


class GENBRIDGE_PG_sb_take(PropertyGroup):
    """One take of a shot: a keyframe image and the preview clip made from it."""

    number: IntProperty(name="Take", default=1, min=1)
    keyframe_job: StringProperty(name="Keyframe Job", description="GenBridge job id of the keyframe")
    keyframe_service: StringProperty(name="Keyframe Service", description="The service that made it")
    keyframe_template: StringProperty(name="Keyframe Template")
    keyframe_seed: IntProperty(name="Keyframe Seed", default=-1, min=-1)
    keyframe_prompt: StringProperty(name="Keyframe Prompt")
    keyframe_state: StringProperty(name="Keyframe State", default="queued")
    keyframe_reason: StringProperty(name="Keyframe Why", description="Why the router chose this service")
    keyframe_path: StringProperty(name="Keyframe File", subtype="FILE_PATH")
    clip_job: StringProperty(name="Clip Job", description="GenBridge job id of the clip")
    clip_service: StringProperty(name="Clip Service", description="The service that made it")
    clip_template: StringProperty(name="Clip Template")
    clip_seed: IntProperty(name="Clip Seed", default=-1, min=-1)
    clip_prompt: StringProperty(name="Clip Prompt")
    clip_state: StringProperty(name="Clip State", default="queued")
    clip_reason: StringProperty(name="Clip Why", description="Why the router chose this service")
    clip_path: StringProperty(name="Clip File", subtype="FILE_PATH")


class GENBRIDGE_PG_sb_shot(PropertyGroup):
    """One shot: what the camera sees, for how long, and every take made of it."""

    description: StringProperty(name="Description")
    duration: FloatProperty(name="Duration (s)", default=3.0, min=0.1)
    camera: StringProperty(name="Camera")
    characters: StringProperty(name="Characters", description="Comma-separated names")
    prompt: StringProperty(name="Prompt")
    takes: CollectionProperty(type=GENBRIDGE_PG_sb_take)
    chosen: IntProperty(name="Chosen Take", default=0, min=0, description="The take the Sequencer shows (0-based)")


class GENBRIDGE_PG_storyboard(PropertyGroup):
    """The scene's storyboard: its logline, the shot-list job, the shots, and where it stands."""

    logline: StringProperty(name="Logline", description="One or two sentences: who wants what, what stands in the way")
    shot_count: IntProperty(name="Shots", default=5, min=1, max=40, description="How many shots to plan")
    group: StringProperty(name="Storyboard ID", description="Tags every job of this storyboard")
    shotlist_job: StringProperty(name="Shot List Job")
    text_name: StringProperty(name="Shot List Text")
    status: StringProperty(name="Status", default="")
    fps: IntProperty(name="FPS", default=24, min=1)
    start_frame: IntProperty(name="Start Frame", default=1)
    shots: CollectionProperty(type=GENBRIDGE_PG_sb_shot)
    active_shot: IntProperty(name="Active Shot", default=0, min=0)


CLASSES = (GENBRIDGE_PG_sb_take, GENBRIDGE_PG_sb_shot, GENBRIDGE_PG_storyboard)


def register() -> None:
    # Properties added at runtime (unknown to the stubs, whose property functions claim to return None).
    bpy.types.Scene.genbridge_storyboard = PointerProperty(  # type: ignore[attr-defined,func-returns-value]
        type=GENBRIDGE_PG_storyboard
    )


def unregister() -> None:
    if hasattr(bpy.types.Scene, "genbridge_storyboard"):
        del bpy.types.Scene.genbridge_storyboard


# -- conversion to and from the plain core ---------------------------------------------------------------------
def read_shots(board: Any) -> list[Any]:
    """The scene's shots as `model.Shot` dataclasses."""
    shots = []
    for item in board.shots:
        takes = []
        for t in item.takes:
            steps = []
            for role in ("keyframe", "clip"):
                path = getattr(t, f"{role}_path")
                steps.append(
                    TakeStep(
                        role=role,  # type: ignore[arg-type]
                        job_id=getattr(t, f"{role}_job"),
                        prompt=getattr(t, f"{role}_prompt"),
                        service=getattr(t, f"{role}_service"),
                        template=getattr(t, f"{role}_template"),
                        seed=getattr(t, f"{role}_seed"),
                        state=getattr(t, f"{role}_state"),
                        reason=getattr(t, f"{role}_reason"),
                        outputs=[path] if path else [],
                    )
                )
            takes.append(Take(t.number, steps[0], steps[1]))
        characters = [c.strip() for c in item.characters.split(",") if c.strip()]
        shots.append(Shot(item.description, item.duration, item.camera, characters, item.prompt, takes, item.chosen))
    return shots


def write_shots(board: Any, shots: list[Any]) -> None:
    """Store the dataclasses back on the scene (takes are only ever added, never removed)."""
    while len(board.shots) > len(shots):
        board.shots.remove(len(board.shots) - 1)
    while len(board.shots) < len(shots):
        board.shots.add()
    for item, shot in zip(board.shots, shots, strict=True):
        item.description, item.duration, item.camera = shot.description, shot.duration, shot.camera
        item.characters, item.prompt = ", ".join(shot.characters), shot.prompt
        while len(item.takes) < len(shot.takes):
            item.takes.add()
        for t, take in zip(item.takes, shot.takes, strict=False):
            t.number = take.number
            for role in ("keyframe", "clip"):
                step = take.step(role)
                setattr(t, f"{role}_job", step.job_id)
                setattr(t, f"{role}_prompt", step.prompt)
                setattr(t, f"{role}_service", step.service)
                setattr(t, f"{role}_template", step.template)
                setattr(t, f"{role}_seed", max(-1, min(step.seed, 2**31 - 1)))
                setattr(t, f"{role}_state", step.state)
                setattr(t, f"{role}_reason", step.reason)
                setattr(t, f"{role}_path", step.output)
        item.chosen = shot.chosen
