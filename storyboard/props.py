"""The storyboard on the scene: shots, their takes and the chosen take, saved with the .blend.

The logic lives in `model` and `plan` (plain data); this module only converts between those dataclasses and
the PropertyGroups (`read_shots` / `write_shots`), so every rule is tested without Blender.
"""

from __future__ import annotations

import json
from typing import Any

import bpy
from bpy.props import BoolProperty, CollectionProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup

from .cast import SEED_LIMIT, Cast, Character, Reference
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
    keyframe_references: StringProperty(name="Keyframe References", description="Cast references sent, one a line")
    keyframe_cast_note: StringProperty(name="Keyframe Cast", description="Why these references (or none) were used")
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


class GENBRIDGE_PG_cast_reference(PropertyGroup):
    """One reference image of a cast member: a file and where it came from (plain data, no keys)."""

    path: StringProperty(name="Image", subtype="FILE_PATH", description="Local reference image")
    source: StringProperty(name="Source", default="file", description="file, camera or image_editor")
    provenance: StringProperty(name="Provenance", description="Where the image came from, as JSON")


class GENBRIDGE_PG_cast_member(PropertyGroup):
    """A cast member (`name` is the name the shot list uses): description, references, the seed every shot uses."""

    description: StringProperty(name="Description", description="What they look like, folded into every prompt")
    seed: IntProperty(name="Seed", default=0, min=0, max=SEED_LIMIT, description="The seed of every shot with them")
    references: CollectionProperty(type=GENBRIDGE_PG_cast_reference)


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
    cast: CollectionProperty(type=GENBRIDGE_PG_cast_member)
    allow_text_fallback: BoolProperty(
        name="Text-to-Image Fallback",
        default=False,
        description="When the server lacks the reference model, make cast keyframes from text alone (said on the "
        "job) instead of failing with the missing model named",
    )


CLASSES = (
    GENBRIDGE_PG_sb_take,
    GENBRIDGE_PG_sb_shot,
    GENBRIDGE_PG_cast_reference,
    GENBRIDGE_PG_cast_member,
    GENBRIDGE_PG_storyboard,
)


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
            refs = [line for line in t.keyframe_references.split("\n") if line]
            steps[0].references, steps[0].cast_note = refs, t.keyframe_cast_note
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
            t.keyframe_references = "\n".join(take.keyframe.references)
            t.keyframe_cast_note = take.keyframe.cast_note
        item.chosen = shot.chosen


def read_cast(board: Any) -> Cast:
    """The scene's cast as `cast.Cast`."""
    return Cast(
        [
            Character(
                m.name,
                m.description,
                [Reference(r.path, r.source, _provenance(r.provenance)) for r in m.references if r.path],
                m.seed,
            )
            for m in board.cast
        ]
    )


def write_cast(board: Any, cast: Cast) -> None:
    """Store the cast on the scene (members are matched by position; references replaced)."""
    while len(board.cast) > len(cast.characters):
        board.cast.remove(len(board.cast) - 1)
    while len(board.cast) < len(cast.characters):
        board.cast.add()
    for item, member in zip(board.cast, cast.characters, strict=True):
        item.name, item.description, item.seed = member.name, member.description, max(0, min(member.seed, SEED_LIMIT))
        item.references.clear()
        for ref in member.references:
            row = item.references.add()
            row.path, row.source, row.provenance = ref.path, ref.source, json.dumps(ref.provenance, default=str)


def _provenance(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
