"""Events that flow from the loop thread to Blender's main thread (and to the command line).

Backends yield the small `Backend*` records (pydantic, loop thread only); the job service turns them into
`MainEvent`s (`runtime.handoff`, a stdlib frozen dataclass), which carry plain data only, so the main thread can
apply them without importing pydantic or touching the loop thread's objects.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .handoff import MainEvent

# The job service emits the one main-thread event type; `JobEvent` is its name on the loop-thread side.
JobEvent = MainEvent


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


def ServicesEvent(results: list[dict[str, Any]]) -> MainEvent:
    """Probe results of every endpoint, as plain data, for the status panel."""
    return MainEvent(kind="services", results=tuple(results))
