"""The one event type that crosses from the loop thread to Blender's main thread (stdlib only).

Thread contract: the loop thread (and the job service on it) builds `MainEvent`s from plain data and posts them;
the main thread's dispatcher hands each to the handlers of its `kind`. The record is a frozen dataclass, not a
pydantic model, because Blender's main thread must never import pydantic; it holds only str/float/dict/tuple data,
never objects of the loop thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal[
    "state",  # a job changed state; `job` is its full journaled snapshot
    "progress",  # `progress` (0..1) and `phase` of a running job
    "preview",  # `path` of a step preview image
    "text",  # `text`: a batch of streamed tokens
    "output",  # `path` of a finished output file
    "log",  # `text`: a note worth telling the user
    "services",  # `results`: probe results of every configured endpoint; `error` when the check itself failed
    "endpoint_test",  # `key` ("service|url") and `result` of one endpoint's Test (preferences)
    "dependencies",  # `problems`: bundled libraries missing or broken
]
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]

# A job's `state` crosses over as text: the words are in `runtime.vocabulary` (JobState imports pydantic).


@dataclass(frozen=True, slots=True)
class MainEvent:
    """One change, as plain data. Which fields are set depends on `kind` (see `EventKind`)."""

    kind: EventKind
    job_id: str = ""
    state: str | None = None
    progress: float | None = None
    phase: str | None = None
    text: str | None = None
    path: str | None = None
    job: Mapping[str, Any] | None = None
    results: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None
    key: str = ""
    result: Mapping[str, Any] | None = None
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; expected one of {', '.join(EVENT_KINDS)}")
