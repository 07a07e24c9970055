"""Which WanGP MCP contract a server speaks, detected from `tools/list`, and the calls that differ between them.

* early v1 (12.x): `wangp_generate(source, wait)`, `wangp_get_job`, `wangp_cancel_job`, media field `gallery_id`;
* late v1 (~2026-09, and 13.x with `--mcp-api-version 1`): adds `wangp_models` / `wangp_model`, field `media_id`;
* v2 (13.x default): `wangp_generate(settings=...)`, `wangp_session(action=...)`; `wait=false` only with `--mcp-async`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...runtime.errors import IncompatibleServer
from .errors import START_HINT

V1 = "v1"
V1_LATE = "v1-late"
V2 = "v2"
V2_SYNC_WAIT_S = 2.0  # v2 without --mcp-async: wait this long, then poll the job id from the timeout reply


@dataclass(frozen=True)
class Contract:
    """The contract of one server: version, media id field, async support, and which tools exist."""

    version: str
    tools: frozenset[str]
    async_generate: bool = True

    @property
    def media_key(self) -> str:
        return "gallery_id" if self.version == V1 else "media_id"

    @property
    def label(self) -> str:
        return {V1: "MCP v1", V1_LATE: "MCP v1 (media_id)", V2: "MCP v2"}[self.version] + (
            "" if self.async_generate else " (no --mcp-async)"
        )

    # -- the calls: (tool name, arguments) ------------------------------------------------------------------------
    def generate(self, settings: dict[str, Any], event_limit: int) -> tuple[str, dict[str, Any]]:
        """Submit without a blocking wait (v1 wait=true loses the job id on timeout)."""
        if self.version != V2:
            return "wangp_generate", {"source": settings, "wait": False, "event_limit": event_limit}
        if self.async_generate:
            return "wangp_generate", {"settings": settings, "wait": False, "event_limit": event_limit}
        return "wangp_generate", {
            "settings": settings,
            "wait": True,
            "timeout_s": V2_SYNC_WAIT_S,
            "event_limit": event_limit,
        }

    def _session_or(self, v1_tool: str, action: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.version == V2:
            return "wangp_session", {"action": action, "arguments": arguments}
        return v1_tool, arguments

    def get_job(self, job_id: str, event_limit: int) -> tuple[str, dict[str, Any]]:
        return self._session_or("wangp_get_job", "get_job", {"job_id": job_id, "event_limit": event_limit})

    def cancel_job(self, job_id: str) -> tuple[str, dict[str, Any]]:
        return self._session_or("wangp_cancel_job", "cancel_job", {"job_id": job_id, "event_limit": 0})

    def upload_ticket(self, filename: str) -> tuple[str, dict[str, Any]]:
        return self._session_or("wangp_create_gallery_upload", "create_gallery_upload", {"filename": filename})

    def download_ticket(self, media_id: str) -> tuple[str, dict[str, Any]]:
        return self._session_or("wangp_create_gallery_download", "create_gallery_download", {self.media_key: media_id})

    def list_queue(self) -> tuple[str, dict[str, Any]] | None:
        return ("wangp_session", {"action": "list_queue", "arguments": {"limit": 20}}) if self.version == V2 else None

    def model_schema(self, model_type: str) -> tuple[str, dict[str, Any]]:
        """Limits of a model. Early v1 answers null for an unknown model; the others answer a tool error."""
        if "wangp_get_model_schema" in self.tools:
            return "wangp_get_model_schema", {"model_type": model_type}
        if self.version == V2:
            return "wangp_model", {"model_type": model_type, "action": "capabilities", "arguments": {}}
        return "wangp_model", {"model_type": model_type, "view": "schema"}

    def model_defaults(self, model_type: str) -> tuple[str, dict[str, Any]]:
        if "wangp_get_default_settings" in self.tools:
            return "wangp_get_default_settings", {"model_type": model_type}
        if self.version == V2:
            return "wangp_model", {"model_type": model_type, "action": "defaults", "arguments": {}}
        return "wangp_model", {"model_type": model_type, "view": "defaults"}

    def list_models(self, offset: int, cursor: str | None) -> tuple[str, dict[str, Any]]:
        """One page of video models: v1 `wangp_list_models` (10 a page), `wangp_models` otherwise."""
        if self.version == V2:
            # Never `summary_only`: WanGP's pager then returns the count without any items (issue 17.5).
            args: dict[str, Any] = {"query": "", "filters": {"main_output": "video"}, "limit": 100}
            if cursor:
                args["cursor"] = cursor
            return "wangp_models", {"action": "search", "arguments": args}
        if "wangp_models" in self.tools:
            return "wangp_models", {"query": "", "filters": {"main_output": "video"}, "limit": 50, "offset": offset}
        return "wangp_list_models", {"main_output": "video", "limit": 10, "offset": offset}


def detect_contract(tools: list[dict[str, Any]], url: str) -> Contract:
    """Pick the contract from `tools/list`; an unknown set of tools is an IncompatibleServer naming what it saw."""
    names = frozenset(str(t.get("name", "")) for t in tools)
    if "wangp_session" in names and "wangp_generate" in names:
        generate = next(t for t in tools if t.get("name") == "wangp_generate")
        wait = (generate.get("inputSchema") or {}).get("properties", {}).get("wait", {})
        return Contract(V2, names, async_generate=wait.get("const") is not True)
    if {"wangp_generate", "wangp_get_job", "wangp_cancel_job"} <= names:
        return Contract(V1_LATE if "wangp_model" in names else V1, names)
    found = ", ".join(sorted(names)[:12]) or "no tools"
    raise IncompatibleServer(
        f"The server at {url} is not a WanGP MCP server GenBridge knows (it offers: {found}).",
        "GenBridge needs WanGP 12.x or newer. " + START_HINT,
        service="wan2gp",
    )
