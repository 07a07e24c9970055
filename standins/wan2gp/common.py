"""Shared pieces of the WanGP stand-in: captured replies, tool failures, the simulated job record."""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass, field
from typing import Any

from ..fixtures import load_fixture

SCHEMA_FIXTURES = ("t2v", "t2v_2_2", "i2v_2_2", "hunyuan_1_5_t2v", "ltx2_22B_distilled")
BUSY = "WanGP session already has a generation in progress"
HUB_ERROR = (
    "An error happened while trying to locate the file on the Hub and we cannot find the requested files "
    "in the local cache. Please check your connection and try again or make sure your Internet connection "
    "is on."
)
OOM_ERROR = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 11.99 GiB total capacity)"
MEDIA_KEYS = ("image_start", "image_end", "image_refs", "video_guide", "video_source", "audio_guide")


def fixture_body(name: str) -> Any:
    return load_fixture("wan2gp", name)["response"]["body"]["result"]


def structured(name: str) -> Any:
    value = fixture_body(name)["structuredContent"]
    return value["result"] if isinstance(value, dict) and set(value) == {"result"} else value


class ToolFailure(Exception):
    """Becomes an `isError` tool result ("Error executing tool <name>: <message>")."""


@dataclass
class SimJob:
    """One generation on the stand-in."""

    job_id: str
    settings: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    cancel_requested: bool = False
    result: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def snapshot(self, event_limit: int | None) -> dict[str, Any]:
        limit = 20 if event_limit is None else max(0, int(event_limit))
        return {
            "job_id": self.job_id,
            "done": self.done,
            "cancel_requested": self.cancel_requested,
            "webui_submission_ready": False,
            "webui_load_queue_token": "",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "events": self.events[-limit:] if limit else [],
            "result": copy.deepcopy(self.result),
        }


def fixture_initialize() -> dict[str, Any]:
    """The captured `initialize` result of WanGP 12.60."""
    return load_fixture("wan2gp", "01_initialize.json")["initialize"]["response"]["body"]["result"]
