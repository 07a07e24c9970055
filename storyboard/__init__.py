"""The storyboard: logline -> shot list -> per shot a keyframe and a clip, laid out in the Sequencer.

One room for the whole feature: `model` and `plan` are the plain core (stdlib only, re-exported here, shared by
the Blender operators, the headless command and the tests); `props`, `operators`, `panel` are the Blender side
(imported by `classes()`/`register()` only, so importing this package never imports bpy). `draw` is the
panel's pure drawing code.
"""

from __future__ import annotations

from typing import Any

from .model import (
    ARCHIVE_FIRST_CHANNEL,
    CLIP_CHANNEL,
    CLIP_TASK,
    KEYFRAME_CHANNEL,
    KEYFRAME_TASK,
    ROLES,
    SHOTLIST_TASK,
    TERMINAL,
    Role,
    Shot,
    ShotRange,
    StoryboardOptions,
    Take,
    TakeStep,
    apply_job,
    find_step,
    pending_job_ids,
    read_shotlist,
    shot_prompt,
    shots_from_data,
    shots_from_shotlist,
    shots_to_data,
)
from .plan import (
    StripPlace,
    clip_spec,
    keyframe_spec,
    layout,
    plan_storyboard,
    plan_take,
    shot_at_frame,
    shotlist_spec,
    strip_name,
    strip_places,
    strip_target,
    take_channels,
)

__all__ = [
    "ARCHIVE_FIRST_CHANNEL",
    "CLIP_CHANNEL",
    "CLIP_TASK",
    "KEYFRAME_CHANNEL",
    "KEYFRAME_TASK",
    "ROLES",
    "SHOTLIST_TASK",
    "TERMINAL",
    "Role",
    "Shot",
    "ShotRange",
    "StoryboardOptions",
    "StripPlace",
    "Take",
    "TakeStep",
    "apply_job",
    "clip_spec",
    "find_step",
    "keyframe_spec",
    "layout",
    "pending_job_ids",
    "plan_storyboard",
    "plan_take",
    "read_shotlist",
    "shot_at_frame",
    "shot_prompt",
    "shotlist_spec",
    "shots_from_data",
    "shots_from_shotlist",
    "shots_to_data",
    "strip_name",
    "strip_places",
    "strip_target",
    "take_channels",
]


def classes() -> list[Any]:
    """Property groups and operators, then the panels (children of the GenBridge panels: register after those)."""
    from . import cast_ops, operators, panel, props

    return [*props.CLASSES, *operators.CLASSES, *cast_ops.CLASSES, *panel.CLASSES]


def register() -> None:
    """After the classes: the Scene's storyboard, the job-state listener, the entries in the GenBridge menu."""
    from . import operators, panel, props

    props.register()
    operators.register()
    panel.register()


def unregister() -> None:
    from . import operators, panel, props

    panel.unregister()
    operators.unregister()
    props.unregister()
