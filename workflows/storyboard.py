"""The storyboard core (no bpy, no pydantic): shots and their takes, job specs with dependencies, the Sequencer layout.

A storyboard is a list of shots written by the shot-list task. Each shot is generated as takes; a take is one
keyframe image job (ComfyUI) plus one quick-preview clip job that waits for that keyframe and starts from it
(image to video: Wan2GP, or ComfyUI when the router says so). Regenerating never replaces a take, it adds one;
"pick take" only changes which take the Sequencer shows.

Sequencer layout (channels are fixed so a storyboard always reads the same way):
- shot i occupies frames [start_i, start_i + frames_i), shots one after another from `start_frame`;
- the chosen take's keyframe is an image strip on channel 1 spanning the whole shot (KEYFRAME_CHANNEL);
- the chosen take's clip is a movie strip on channel 2 from the shot's first frame (CLIP_CHANNEL);
- every other take is kept, muted, on its own pair of channels above: take k (0-based) on 3 + 2k and 4 + 2k.

Everything here is plain data so the Blender operators, the headless command and the tests share it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

KEYFRAME_CHANNEL = 1
CLIP_CHANNEL = 2
ARCHIVE_FIRST_CHANNEL = 3  # take k (0-based) lives muted on channels 3 + 2k (keyframe) and 4 + 2k (clip)

KEYFRAME_TASK = "keyframe"
CLIP_TASK = "quick_preview"
SHOTLIST_TASK = "shotlist"

Role = Literal["keyframe", "clip"]
ROLES: tuple[Role, ...] = ("keyframe", "clip")
TERMINAL = frozenset({"done", "failed", "cancelled", "interrupted"})


@dataclass(frozen=True)
class StoryboardOptions:
    """How the keyframes and clips are asked for; defaults suit a quick draft on a small GPU."""

    fps: int = 24
    start_frame: int = 1
    keyframe_width: int = 768
    keyframe_height: int = 432
    clip_resolution: str = "832x480"
    clip_frames: int = 33
    clip_steps: int = 12
    clip_model: str = "i2v_2_2"  # a WanGP image-to-video model type (ComfyUI picks its own i2v template)
    style: str = "cinematic storyboard frame, naturalistic lighting"
    keyframe_template: str | None = None
    clip_template: str | None = None


@dataclass
class TakeStep:
    """One job of a take (its keyframe or its clip) and what it produced."""

    role: Role
    job_id: str
    prompt: str = ""
    service: str = ""
    template: str = ""
    seed: int = -1
    state: str = "queued"
    reason: str = ""  # why the router chose this service (plan[0].reason)
    outputs: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def output(self) -> str:
        return self.outputs[0] if self.outputs else ""


@dataclass
class Take:
    """One attempt at a shot: a keyframe and the clip made from it."""

    number: int  # 1-based, in the order takes were made
    keyframe: TakeStep
    clip: TakeStep

    @property
    def job_ids(self) -> list[str]:
        return [self.keyframe.job_id, self.clip.job_id]

    def step(self, role: Role) -> TakeStep:
        return self.keyframe if role == "keyframe" else self.clip

    @property
    def finished(self) -> bool:
        return self.keyframe.finished and self.clip.finished


@dataclass
class Shot:
    """One planned shot, its takes and the take the Sequencer shows."""

    description: str
    duration: float  # seconds
    camera: str = ""
    characters: list[str] = field(default_factory=list)
    prompt: str = ""
    takes: list[Take] = field(default_factory=list)
    chosen: int = 0  # index into takes

    @property
    def chosen_take(self) -> Take | None:
        return self.takes[self.chosen] if 0 <= self.chosen < len(self.takes) else None

    def frames(self, fps: int) -> int:
        return max(1, round(self.duration * fps))

    def pick(self, index: int) -> None:
        """Show take `index` (0-based); the others stay, muted."""
        if not 0 <= index < len(self.takes):
            raise IndexError(f"this shot has {len(self.takes)} takes, not {index + 1}")
        self.chosen = index


@dataclass(frozen=True)
class ShotRange:
    """Where a shot sits on the timeline: frames [start, end)."""

    index: int
    start: int
    frames: int

    @property
    def end(self) -> int:
        return self.start + self.frames


# -- shots from the shot list ----------------------------------------------------------------------------------------
def shot_prompt(description: str, camera: str = "", characters: Iterable[str] = (), style: str = "") -> str:
    """The image/video prompt of a shot: what the camera sees, how, who is in it, in which style."""
    parts = [description.strip().rstrip(".") + "."]
    if camera.strip():
        parts.append(f"Camera: {camera.strip().rstrip('.')}.")
    names = [c.strip() for c in characters if c.strip()]
    if names:
        parts.append(f"Characters: {', '.join(names)}.")
    if style.strip():
        parts.append(f"Style: {style.strip().rstrip('.')}.")
    return " ".join(parts)


def shots_from_shotlist(
    data: Mapping[str, Any] | list[Any], options: StoryboardOptions | None = None, limit: int | None = None
) -> list[Shot]:
    """Shots from a parsed shot list (`{"shots": [...]}` as written to shotlist.json); `limit` keeps the first N."""
    options = options or StoryboardOptions()
    raw = data.get("shots", []) if isinstance(data, Mapping) else data
    if not isinstance(raw, list) or not raw:
        raise ValueError("the shot list has no shots")
    shots = []
    for item in raw[: limit if limit and limit > 0 else None]:
        description = str(item.get("description", "")).strip()
        if not description:
            raise ValueError("a shot in the shot list has no description")
        duration = float(item.get("duration") or 0) or 3.0
        camera = str(item.get("camera") or "")
        characters = [str(c) for c in item.get("characters") or []]
        shots.append(
            Shot(description, duration, camera, characters, shot_prompt(description, camera, characters, options.style))
        )
    return shots


def read_shotlist(path: str | Path, options: StoryboardOptions | None = None, limit: int | None = None) -> list[Shot]:
    """Shots from a `shotlist.json` written by the LiteLLM client (already validated there)."""
    return shots_from_shotlist(json.loads(Path(path).read_text(encoding="utf-8")), options, limit)


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
) -> dict[str, Any]:
    """The keyframe image job of one take, landing as an image strip over the whole shot."""
    inputs = {"prompt": shot.prompt, "width": options.keyframe_width, "height": options.keyframe_height, "seed": seed}
    return {
        "id": _new_id(),
        "task": KEYFRAME_TASK,
        "inputs": inputs,
        "template": options.keyframe_template,
        "target": strip_target("image_strip", strip_name(shot_index, take_number, "keyframe"), scene, channel, rng),
        "group": group,
    }


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
    return TakeStep(
        role=role,
        job_id=spec["id"],
        prompt=str(inputs.get("prompt", "")),
        template=spec.get("template") or "",
        seed=int(inputs.get("seed", -1)),
        depends_on=list(spec.get("depends_on", [])),
    )


def plan_take(
    shots: list[Shot],
    shot_index: int,
    *,
    group: str,
    scene: str = "",
    options: StoryboardOptions | None = None,
    reuse_keyframe: bool = False,
) -> list[dict[str, Any]]:
    """Add a new take to shot `shot_index` and return its job specs (submit them in order).

    A full take is keyframe then clip (the clip depends on the keyframe). With `reuse_keyframe`, the new take
    keeps the chosen take's finished keyframe and only makes a new clip from it (Regenerate Clip).
    The first take of a shot is shown at once; later takes land on their own muted channels until picked.
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
        key = keyframe_spec(shot, shot_index, number, rng, group=group, scene=scene, channel=key_ch, options=options)
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
    shots: list[Shot], *, group: str, scene: str = "", options: StoryboardOptions | None = None
) -> list[dict[str, Any]]:
    """The first take of every shot, in shot order: keyframe 1, clip 1 (waits for keyframe 1), keyframe 2, ..."""
    specs: list[dict[str, Any]] = []
    for index in range(len(shots)):
        specs += plan_take(shots, index, group=group, scene=scene, options=options)
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


# -- following the jobs --------------------------------------------------------------------------------------------
def find_step(shots: list[Shot], job_id: str) -> tuple[int, int, TakeStep] | None:
    """(shot index, take index, step) of a job, or None (the latest take first, for shared keyframes)."""
    for s, shot in enumerate(shots):
        for t in range(len(shot.takes) - 1, -1, -1):
            for role in ROLES:
                step = shot.takes[t].step(role)
                if step.job_id == job_id:
                    return s, t, step
    return None


def apply_job(shots: list[Shot], snapshot: Mapping[str, Any]) -> bool:
    """Record a job's latest state on every step that uses it (service, seed, outputs, reason); False if unknown."""
    job_id = snapshot.get("id", "")
    known = False
    for shot in shots:
        for take in shot.takes:
            for role in ROLES:
                step = take.step(role)
                if step.job_id != job_id:
                    continue
                known = True
                step.state = str(snapshot.get("state", step.state))
                step.service = snapshot.get("service") or step.service
                step.template = snapshot.get("template") or step.template
                if snapshot.get("seed") is not None:
                    step.seed = int(snapshot["seed"])
                if snapshot.get("outputs"):
                    step.outputs = [str(p) for p in snapshot["outputs"]]
                plan = snapshot.get("plan") or []
                if plan:
                    step.reason = str(plan[0].get("reason", ""))
    return known


def pending_job_ids(shots: list[Shot]) -> list[str]:
    """Jobs of the storyboard that have not finished (what Cancel Storyboard cancels)."""
    seen: list[str] = []
    for shot in shots:
        for take in shot.takes:
            for step in (take.keyframe, take.clip):
                if not step.finished and step.job_id not in seen:
                    seen.append(step.job_id)
    return seen


def shots_to_data(shots: list[Shot]) -> list[dict[str, Any]]:
    """Plain JSON-ready data (for a summary file or a test)."""
    return [asdict(s) for s in shots]


def shots_from_data(data: list[Mapping[str, Any]]) -> list[Shot]:
    """The inverse of `shots_to_data`."""
    shots = []
    for raw in data:
        takes = [Take(t["number"], TakeStep(**t["keyframe"]), TakeStep(**t["clip"])) for t in raw.get("takes", [])]
        fields = {k: v for k, v in raw.items() if k != "takes"}
        shots.append(Shot(**fields, takes=takes))
    return shots
