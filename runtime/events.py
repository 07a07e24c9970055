"""Events that flow from the loop thread to Blender's main thread (and to the command line).

Backends yield the small `Backend*` records; the job service turns them into `JobEvent`s, which carry plain
data only, so the main thread can apply them without touching the loop thread's objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

EventKind = Literal["state", "progress", "preview", "text", "output", "log"]


class JobEvent(BaseModel):
    """One change to one job, as plain data. `job` is a full snapshot on `state` events."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    kind: EventKind
    state: str | None = None
    progress: float | None = None
    phase: str | None = None
    text: str | None = None  # a token batch for "text", a log line for "log"
    path: str | None = None  # preview or output file
    job: dict[str, Any] | None = None


class BackendProgress(BaseModel):
    """Progress as the backend sees it: fraction 0..1 of the whole job and a phase text."""

    model_config = ConfigDict(frozen=True)

    fraction: float
    phase: str = ""
    running: bool = True  # False while the job still waits in the server's queue


class BackendPreview(BaseModel):
    """A step preview image written to disk (never only held in memory)."""

    model_config = ConfigDict(frozen=True)

    path: str


class BackendText(BaseModel):
    """A batch of streamed text tokens."""

    model_config = ConfigDict(frozen=True)

    text: str


class BackendLog(BaseModel):
    """Something worth telling the user that is not progress (cache hit, snapped frame count...)."""

    model_config = ConfigDict(frozen=True)

    message: str


BackendEvent = BackendProgress | BackendPreview | BackendText | BackendLog


class ServicesEvent(BaseModel):
    """Probe results of every endpoint, as plain data, for the status panel."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["services"] = "services"
    results: list[dict[str, Any]]
