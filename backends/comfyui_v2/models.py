"""The Comfy API v2 records GenBridge reads (as `comfy-api-proxy` 0.1.6 and the contract shape them).

Lenient on purpose: unknown fields are ignored (the surface grows), missing optional ones default; what the
client relies on (a job's id and status, an output's id and name) is required.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "canceling", "canceled", "failed", "expired"]
TERMINAL = frozenset({"succeeded", "canceled", "failed", "expired"})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class V2Progress(_Lenient):
    value: float = 0.0
    nodes_done: int = 0
    nodes_total: int = 0
    current_node: str | None = None
    step: int | None = None
    steps: int | None = None


class V2Output(_Lenient):
    id: str = Field(min_length=1, max_length=4096)
    name: str = Field(min_length=1, max_length=4096)
    node_id: str = ""
    type: str = "file"
    content_type: str = "application/octet-stream"
    size_bytes: int = 0


class V2Job(_Lenient):
    id: str = Field(min_length=1, max_length=200)
    status: JobStatus
    queue_position: int | None = None
    progress: V2Progress | None = None
    outputs: list[V2Output] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    outputs_reused: bool = False

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class V2Asset(_Lenient):
    id: str = Field(min_length=1, max_length=200)
    hash: str | None = None
    created_new: bool | None = None
