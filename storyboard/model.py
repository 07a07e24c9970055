"""The storyboard model (no bpy, no pydantic): shots and their takes, reading the shot list, following jobs.

A storyboard is a list of shots written by the shot-list task. Each shot is generated as takes; a take is one
keyframe image job (ComfyUI) plus one quick-preview clip job that waits for that keyframe and starts from it
(image to video: WanGP, or ComfyUI when the router says so). Regenerating never replaces a take, it adds one;
"pick take" only changes which take the Sequencer shows. The job specs and the Sequencer layout are in `plan`.

Everything here is plain data so the Blender operators, the headless command and the tests share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..runtime.vocabulary import STOPPED_STATES

KEYFRAME_CHANNEL = 1
CLIP_CHANNEL = 2
ARCHIVE_FIRST_CHANNEL = 3  # take k (0-based) lives muted on channels 3 + 2k (keyframe) and 4 + 2k (clip)

KEYFRAME_TASK = "keyframe"
CLIP_TASK = "quick_preview"
SHOTLIST_TASK = "shotlist"

Role = Literal["keyframe", "clip"]
ROLES: tuple[Role, ...] = ("keyframe", "clip")
TERMINAL = STOPPED_STATES  # a take's job is no longer running


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
    # A shot whose start has a camera bound to a timeline marker gets its keyframe image-to-image from that
    # camera's render, with this template (it must take an `image` input and serve the keyframe task).
    camera_keyframe_template: str = "sd15_img2img"
    clip_template: str | None = None
    # A shot with cast references needs the reference model; without it, make the keyframe from text alone
    # (said on the job) only when this is on. Off: pre-flight reports the missing model and its fix.
    allow_text_fallback: bool = False


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
    references: list[str] = field(default_factory=list)  # "Mara: /path/mara.png" per cast reference sent
    cast_note: str = ""  # why these references (or none) were used

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
    parts = [_sentence(description)]
    if camera.strip():
        parts.append(f"Camera: {_sentence(camera)}")
    names = [c.strip() for c in characters if c.strip()]
    if names:
        parts.append(f"Characters: {', '.join(names)}.")
    if style.strip():
        parts.append(f"Style: {_sentence(style)}")
    return " ".join(parts)


def _sentence(text: str) -> str:
    """`text` ending in exactly one full stop: a model's "through," or "dawn..." must not read "through,."."""
    return text.strip().rstrip(".,;: ").strip() + "."


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
                fell_back = [a for a in snapshot.get("adjustments") or [] if "without the cast references" in str(a)]
                if role == "keyframe" and fell_back:
                    step.cast_note = str(fell_back[0])  # the server lacked the reference model: made from text
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
