"""The storyboard plan (no bpy, no pydantic): job specs with their dependencies, and the Sequencer layout.

Sequencer layout (channels are fixed so a storyboard always reads the same way):
- shot i occupies frames [start_i, start_i + frames_i), shots one after another from `start_frame`;
- the chosen take's keyframe is an image strip on channel 1 spanning the whole shot (KEYFRAME_CHANNEL);
- the chosen take's clip is a movie strip on channel 2 from the shot's first frame (CLIP_CHANNEL);
- every other take is kept, muted, on its own pair of channels above: take k (0-based) on 3 + 2k and 4 + 2k.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .cast import (
    CAST_KEY,
    CHARACTER_TASK,
    REFERENCE_FALLBACK_KEY,
    REFERENCE_PARAMS,
    Cast,
    described_characters,
    shot_cast,
)
from .model import (
    ARCHIVE_FIRST_CHANNEL,
    CLIP_CHANNEL,
    CLIP_TASK,
    KEYFRAME_CHANNEL,
    KEYFRAME_TASK,
    ROLES,
    SHOTLIST_TASK,
    Role,
    Shot,
    ShotRange,
    StoryboardOptions,
    Take,
    TakeStep,
    shot_prompt,
)

# A keyframe spec holding this key still needs its camera captured (on the main thread, by the operators) before it
# is submitted: {"param", "camera", "frame", "width", "height"}. Plain data; removed before submission.
CAMERA_CAPTURE_KEY = "camera_capture"
CAMERA_PARAM = "image"


def camera_at(bindings: Sequence[tuple[int, str]], frame: int) -> str | None:
    """The camera bound at `frame`: Blender switches to a marker's camera at the marker's frame and keeps it until
    the next bound marker, so the latest bound marker at or before `frame` (None before the first one)."""
    chosen: tuple[int, str] | None = None
    for marker_frame, camera in sorted(bindings):
        if marker_frame <= frame:
            chosen = (marker_frame, camera)
    return chosen[1] if chosen else None


# -- job specs ---------------------------------------------------------------------------------------------------------
def _new_id() -> str:
    return str(uuid.uuid4())


def shotlist_spec(logline: str, *, shots: int = 5, group: str, model: str = "", text_name: str = "") -> dict[str, Any]:
    """The shot-list job: LiteLLM writes the shots, streamed into a Text block."""
    inputs: dict[str, Any] = {"text_task": SHOTLIST_TASK, "variables": {"logline": logline, "shots": str(shots)}}
    if model:
        inputs["model"] = model
    return {
        "id": _new_id(),
        "task": SHOTLIST_TASK,
        "inputs": inputs,
        "target": {"kind": "text", "name": text_name or "GenBridge Shot List"},
        "group": group,
    }


def take_channels(take_index: int, chosen: bool) -> tuple[int, int]:
    """(keyframe channel, clip channel) for a take: 1 and 2 when shown, its own muted pair otherwise."""
    if chosen:
        return KEYFRAME_CHANNEL, CLIP_CHANNEL
    base = ARCHIVE_FIRST_CHANNEL + 2 * take_index
    return base, base + 1


def strip_name(shot_index: int, take_number: int, role: Role) -> str:
    return f"Shot {shot_index + 1:02d} {'key' if role == 'keyframe' else 'clip'} T{take_number}"


def strip_target(kind: str, name: str, scene: str, channel: int, rng: ShotRange) -> dict[str, Any]:
    """Where a take's result lands: a strip over the shot's frame range (the clip keeps its own length)."""
    return {
        "kind": kind,
        "name": name,
        "scene": scene,
        "channel": channel,
        "frame_start": rng.start,
        "duration": rng.frames,
    }


def shot_prompt_with_cast(shot: Shot, cast: Cast | None, options: StoryboardOptions) -> str:
    """The shot's prompt with each cast member's description folded in (the shot-list prompt when none has one)."""
    described = described_characters(shot.characters, cast)
    if described == [c.strip() for c in shot.characters] or not shot.description:
        return shot.prompt
    return shot_prompt(shot.description, shot.camera, described, options.style)


def keyframe_spec(
    shot: Shot,
    shot_index: int,
    take_number: int,
    rng: ShotRange,
    *,
    group: str,
    scene: str,
    channel: int,
    options: StoryboardOptions,
    seed: int = -1,
    cast: Cast | None = None,
    camera: str | None = None,
) -> dict[str, Any]:
    """The keyframe image job of one take, landing as an image strip over the whole shot.

    With a `camera` (bound to a marker at the shot's start) and no cast references, it is image-to-image from that
    camera's render at the shot's first frame: the spec carries CAMERA_CAPTURE_KEY for the main thread to capture.

    With cast members who have references, it is a reference job (task `character_image`, a Flux Kontext cast
    template): their first reference images are its image inputs (uploaded by the client), their seed its seed,
    and `inputs["cast"]` says which references were used and why. Otherwise the plain text-to-image keyframe."""
    members = shot_cast(shot.characters, cast)
    if members.members and seed < 0:
        seed = members.seed  # the character's seed: the same in every shot and every take
    inputs: dict[str, Any] = {
        "prompt": shot_prompt_with_cast(shot, cast, options),
        "width": options.keyframe_width,
        "height": options.keyframe_height,
        "seed": seed,
    }
    task, template = KEYFRAME_TASK, options.keyframe_template
    if members.members:
        inputs[CAST_KEY] = {
            "references": [
                {"character": name, "path": ref.path, "source": ref.source, "provenance": dict(ref.provenance)}
                for name, ref in members.used
            ],
            "why": members.why,
        }
    if members.used:
        task, template = CHARACTER_TASK, members.template
        params = list(REFERENCE_PARAMS[: len(members.used)])
        for param, (_, ref) in zip(params, members.used, strict=True):
            inputs[param] = ref.path
        inputs[REFERENCE_FALLBACK_KEY] = {
            "allowed": options.allow_text_fallback,
            "task": KEYFRAME_TASK,
            "template": options.keyframe_template,
            "drop": params,
        }
    spec: dict[str, Any] = {
        "id": _new_id(),
        "task": task,
        "inputs": inputs,
        "template": template,
        "target": strip_target("image_strip", strip_name(shot_index, take_number, "keyframe"), scene, channel, rng),
        "group": group,
    }
    if camera and not members.used:  # cast references win: they are what keeps the characters the same
        spec["template"] = options.camera_keyframe_template
        spec[CAMERA_CAPTURE_KEY] = {
            "param": CAMERA_PARAM,
            "camera": camera,
            "frame": rng.start,
            "width": options.keyframe_width,
            "height": options.keyframe_height,
        }
    return spec


def clip_spec(
    shot: Shot,
    shot_index: int,
    take_number: int,
    rng: ShotRange,
    *,
    group: str,
    scene: str,
    channel: int,
    options: StoryboardOptions,
    keyframe_job: str | None = None,
    start_image: str | None = None,
    seed: int = -1,
) -> dict[str, Any]:
    """The quick-preview clip of one take, starting from its keyframe: either a job to wait for or a file."""
    if (keyframe_job is None) == (start_image is None):
        raise ValueError("a clip starts from exactly one of: a keyframe job, or an existing image file")
    start: Any = start_image if start_image is not None else {"$output_of": keyframe_job, "index": 0}
    inputs = {
        "prompt": shot.prompt,
        "start_image": start,
        "model": options.clip_model,
        "resolution": options.clip_resolution,
        "frames": options.clip_frames,
        "steps": options.clip_steps,
        "seed": seed,
    }
    return {
        "id": _new_id(),
        "task": CLIP_TASK,
        "inputs": inputs,
        "template": options.clip_template,
        "target": strip_target("movie_strip", strip_name(shot_index, take_number, "clip"), scene, channel, rng),
        "depends_on": [keyframe_job] if keyframe_job else [],
        "group": group,
    }


def _step_from_spec(role: Role, spec: Mapping[str, Any]) -> TakeStep:
    inputs = spec.get("inputs", {})
    cast = inputs.get(CAST_KEY) or {}
    refs = cast.get("references") or []
    return TakeStep(
        role=role,
        job_id=spec["id"],
        prompt=str(inputs.get("prompt", "")),
        template=spec.get("template") or "",
        seed=int(inputs.get("seed", -1)),
        depends_on=list(spec.get("depends_on", [])),
        references=[f"{r['character']}: {r['path']}" for r in refs],
        cast_note=str(cast.get("why", "")),
    )


def plan_take(
    shots: list[Shot],
    shot_index: int,
    *,
    group: str,
    scene: str = "",
    options: StoryboardOptions | None = None,
    reuse_keyframe: bool = False,
    cast: Cast | None = None,
    cameras: Sequence[tuple[int, str]] = (),
) -> list[dict[str, Any]]:
    """Add a new take to shot `shot_index` and return its job specs (submit them in order).

    A full take is keyframe then clip (the clip depends on the keyframe). With `reuse_keyframe`, the new take
    keeps the chosen take's finished keyframe and only makes a new clip from it (Regenerate Clip).
    The first take of a shot is shown at once; later takes land on their own muted channels until picked.
    With a `cast`, the keyframe uses its members' references and seed (`keyframe_spec`): every take the same.
    `cameras` are the scene's marker bindings (frame, camera name): the camera bound at the shot's first frame
    makes its keyframe image-to-image (`keyframe_spec`).
    """
    options = options or StoryboardOptions()
    shot = shots[shot_index]
    rng = layout(shots, options.fps, options.start_frame)[shot_index]
    index = len(shot.takes)
    number = index + 1
    key_ch, clip_ch = take_channels(index, chosen=index == 0)
    specs: list[dict[str, Any]] = []
    if reuse_keyframe:
        base = shot.chosen_take
        if base is None or base.keyframe.state != "done" or not base.keyframe.output:
            raise ValueError("this shot has no finished keyframe to make a clip from; regenerate the keyframe")
        keyframe = TakeStep(**{**asdict(base.keyframe), "outputs": list(base.keyframe.outputs)})
        clip = clip_spec(
            shot,
            shot_index,
            number,
            rng,
            group=group,
            scene=scene,
            channel=clip_ch,
            options=options,
            start_image=base.keyframe.output,
        )
        specs.append(clip)
    else:
        key = keyframe_spec(
            shot,
            shot_index,
            number,
            rng,
            group=group,
            scene=scene,
            channel=key_ch,
            options=options,
            cast=cast,
            camera=camera_at(cameras, rng.start),
        )
        clip = clip_spec(
            shot,
            shot_index,
            number,
            rng,
            group=group,
            scene=scene,
            channel=clip_ch,
            options=options,
            keyframe_job=key["id"],
        )
        specs += [key, clip]
        keyframe = _step_from_spec("keyframe", key)
    shot.takes.append(Take(number, keyframe, _step_from_spec("clip", clip)))
    return specs


def plan_storyboard(
    shots: list[Shot],
    *,
    group: str,
    scene: str = "",
    options: StoryboardOptions | None = None,
    cast: Cast | None = None,
    cameras: Sequence[tuple[int, str]] = (),
) -> list[dict[str, Any]]:
    """The first take of every shot, in shot order: keyframe 1, clip 1 (waits for keyframe 1), keyframe 2, ..."""
    specs: list[dict[str, Any]] = []
    for index in range(len(shots)):
        specs += plan_take(shots, index, group=group, scene=scene, options=options, cast=cast, cameras=cameras)
    return specs


# -- layout --------------------------------------------------------------------------------------------------------
def layout(shots: list[Shot], fps: int = 24, start_frame: int = 1) -> list[ShotRange]:
    """Each shot's frame range, shots one after another."""
    ranges, frame = [], start_frame
    for index, shot in enumerate(shots):
        frames = shot.frames(fps)
        ranges.append(ShotRange(index, frame, frames))
        frame += frames
    return ranges


def shot_at_frame(shots: list[Shot], frame: int, fps: int = 24, start_frame: int = 1) -> int | None:
    """The index of the shot whose range holds `frame` (the playhead), or None outside the storyboard."""
    for rng in layout(shots, fps, start_frame):
        if rng.start <= frame < rng.end:
            return rng.index
    return None


@dataclass(frozen=True)
class StripPlace:
    """Where one take's strip belongs: channel, first frame, longest length, and whether it is muted."""

    shot: int
    take: int  # 0-based
    role: Role
    channel: int
    frame_start: int
    max_frames: int
    mute: bool


def strip_places(shots: list[Shot], fps: int = 24, start_frame: int = 1) -> dict[str, StripPlace]:
    """job id -> where its strip goes: the chosen take on channels 1/2, the others muted above (see module doc)."""
    places: dict[str, StripPlace] = {}
    for rng, shot in zip(layout(shots, fps, start_frame), shots, strict=True):
        for t, take in enumerate(shot.takes):
            chosen = t == shot.chosen
            channels = take_channels(t, chosen)
            for role, channel in zip(ROLES, channels, strict=True):
                step = take.step(role)
                # A clip take that reused an earlier keyframe shares that keyframe's job (and strip).
                if role == "keyframe" and step.job_id in places and not chosen:
                    continue
                places[step.job_id] = StripPlace(rng.index, t, role, channel, rng.start, rng.frames, not chosen)
    return places
