"""The job model: what was asked, where the result goes, and where it is now.

A job is created from a plain-data snapshot taken on Blender's main thread, lives on the loop thread, and is
copied out as plain data (`model_dump`) for events, the journal and the UI. Its state only moves along
`TRANSITIONS`; anything else is a bug and raises.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .vocabulary import ACTIVE_STATES, STOPPED_STATES


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(JobState(s) for s in STOPPED_STATES)

_ACTIVE = {JobState(s) for s in ACTIVE_STATES}
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.SUBMITTED, JobState.RUNNING, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}
    ),
    # SUBMITTED -> QUEUED happens when the router falls back to another backend.
    JobState.SUBMITTED: frozenset(
        {
            JobState.QUEUED,
            JobState.RUNNING,
            JobState.DOWNLOADING,
            JobState.DONE,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.INTERRUPTED,
        }
    ),
    JobState.RUNNING: frozenset(
        {
            JobState.QUEUED,
            JobState.DOWNLOADING,
            JobState.DONE,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.INTERRUPTED,
        }
    ),
    JobState.DOWNLOADING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    # An interrupted job (Blender closed) can be re-attached after a restart.
    JobState.INTERRUPTED: frozenset({JobState.SUBMITTED, JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
}


class InvalidTransition(RuntimeError):
    """A state change that the state machine does not allow (a bug, not a user error)."""


TargetKind = Literal["none", "image", "image_strip", "movie_strip", "text", "file"]


class Target(BaseModel):
    """Where the result should land in Blender, decided when the job was queued.

    This (journaled with the job) is the only record landing reads, also after a re-attach, so every field
    landing needs is here and an unknown field is an error instead of being silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TargetKind = "none"
    name: str = ""  # image, strip or text block name
    scene: str = ""
    channel: int = Field(1, ge=1)
    frame_start: int = 1
    duration: int = Field(0, ge=0)  # strip length in frames as planned (0: the file's own length)
    show_in_image_editor: bool = False


CaptureSource = Literal["file", "camera", "viewport", "depth", "normal", "mist", "mask", "image_editor", "sequencer"]


class CaptureInfo(BaseModel):
    """Where an input image came from, recorded with the job (Blender captures and headless `render:` inputs).

    Plain data made on Blender's main thread when the capture is written; the file lives in the job's output folder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    param: str  # the input it feeds ("image", "start_image", ...)
    source: CaptureSource
    path: str  # the PNG that was sent
    scene: str = ""
    camera: str = ""
    frame: int | None = None
    view_layer: str = ""
    engine: str = ""  # render engine of a camera render; passes say how they were made
    image: str = ""  # Image Editor image or Sequencer scene the capture read
    width: int = Field(0, ge=0)
    height: int = Field(0, ge=0)
    bit_depth: int = 8
    blend_file: str = ""  # headless captures: the .blend that was rendered
    view: str = ""  # viewport captures: PERSP, ORTHO or CAMERA (through `camera`)
    shading: str = ""  # viewport captures: the 3D View's shading (SOLID, MATERIAL, RENDERED, WIREFRAME)
    area: str = ""  # viewport captures: the 3D View's size on screen ("1280x720")


class JobErrorInfo(BaseModel):
    """The user-facing part of a GenBridgeError."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    hint: str = ""
    service: str = ""


class PlanStep(BaseModel):
    """One candidate of a routing plan: which service and endpoint, and why."""

    model_config = ConfigDict(frozen=True)

    service: str
    instance: str  # the endpoint's URL (the field name is journaled: it stays `instance`)
    label: str = ""
    reason: str = ""
    changes: tuple[str, ...] = ()  # degradations applied ("resolution 1280x720 -> 832x480")
    inputs_override: dict[str, Any] = Field(default_factory=dict)
    free_vram_first: bool = False  # ask the (idle) server to free cached models before sending this job


def new_job_id() -> str:
    """Client-assigned ids: also used as ComfyUI prompt ids, so a uuid4 string."""
    return str(uuid.uuid4())


class Job(BaseModel):
    """A unit of generative work and everything needed to find, resume or explain it later."""

    model_config = ConfigDict(validate_assignment=False)

    id: str = Field(default_factory=new_job_id)
    task: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    target: Target = Field(default_factory=Target)
    service: str | None = None  # requested service ("auto" = None) before routing, chosen after
    requested_service: str | None = None
    instance: str | None = None  # the chosen endpoint's URL (journaled under this name)
    template: str | None = None
    seed: int | None = None
    remote_ids: dict[str, str] = Field(default_factory=dict)
    # the endpoint's URL -> the remote id it will get ("" when the server assigns it), journaled *before* the
    # request is sent and cleared once the server answered: a crash in between leaves this, so re-attach can ask
    # the server.
    sending: dict[str, str] = Field(default_factory=dict)
    plan: list[PlanStep] = Field(default_factory=list)
    # Input keys the user set explicitly: degradation never changes them unless the policy allows it.
    chosen: list[str] = Field(default_factory=list)
    # Every change made to what was asked, in words ("frames 80 -> 81: ... needs 4k+1 frames"), for the UI and CLI.
    adjustments: list[str] = Field(default_factory=list)
    state: JobState = JobState.QUEUED
    progress: float = 0.0
    phase: str = "Queued"
    preview: str | None = None
    outputs: list[str] = Field(default_factory=list)
    cached: bool = False  # the server reused an earlier run's results (ComfyUI cache hit): outputs are not new
    text: str = ""
    error: JobErrorInfo | None = None
    depends_on: list[str] = Field(default_factory=list)
    group: str | None = None  # e.g. a storyboard id
    captures: list[CaptureInfo] = Field(default_factory=list)  # provenance of captured input images
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    finished_at: float | None = None

    def can_move_to(self, new: JobState) -> bool:
        return new == self.state or new in TRANSITIONS[self.state]

    def move_to(self, new: JobState, phase: str | None = None) -> None:
        """Change state, or raise InvalidTransition. Callers journal *before* calling this."""
        if new == self.state:
            if phase is not None:
                self.phase = phase
            return
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"job {self.id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new
        self.updated_at = time.time()
        if phase is not None:
            self.phase = phase
        if new.terminal:
            self.finished_at = self.updated_at
            if new == JobState.DONE:
                self.progress = 1.0

    @property
    def active(self) -> bool:
        return self.state in _ACTIVE

    def snapshot(self) -> dict[str, Any]:
        """Plain, JSON-ready data for events, the journal and the UI."""
        return self.model_dump(mode="json")
