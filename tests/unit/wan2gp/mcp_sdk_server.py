"""The MCP Python SDK's own server (FastMCP, `mcp<2`) with WanGP-shaped stub tools, for the protocol tests.

Run: `python mcp_sdk_server.py PORT {json|sse} {stateless|stateful}`. Tool names and argument schemas follow the
WanGP 12.60 capture (`fixtures/wan2gp/02_tools_list.json`); the bodies are stubs. `wangp_generate` logs a
notification first, so SSE replies carry an event that is not the answer.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from mcp.server.fastmcp import Context, FastMCP

port, reply_form, state = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = FastMCP(
    "WanGP",
    host="127.0.0.1",
    port=port,
    json_response=reply_form == "json",
    stateless_http=state == "stateless",
    log_level="WARNING",
)
JOBS: dict[str, dict[str, Any]] = {}
SCHEMA = {
    "metadata": {
        "name": "Wan2.1 Text2video 1.3B",
        "fps": 16,
        "frames_minimum": 5,
        "frames_steps": 4,
        "frames_maximum": 97,
        "media_inputs": {"image": {"start": False}},
    }
}


@server.tool()
def wangp_list_models(
    family: str | None = None,
    base_model_type: str | None = None,
    finetune: str | None = None,
    model_type: str | None = None,
    main_output: str | None = None,
    inputs: str | None = None,
    name: str | None = None,
    query: str | None = None,
    limit: int = 10,
    offset: int = 0,
    include_availability: bool = False,
) -> list[dict[str, Any]]:
    """List at most 10 compact model records."""
    models = [{"model_type": m, "name": m} for m in ("t2v", "t2v_1.3B", "i2v_2_2")]
    return models[offset : offset + min(limit, 10)]


@server.tool()
def wangp_get_model_schema(model_type: str) -> dict[str, Any] | None:
    """Return a compact capability and usage summary for one model."""
    return {"metadata": {**SCHEMA["metadata"], "model_type": model_type}} if model_type.startswith("t2v") else None


@server.tool()
def wangp_get_default_settings(model_type: str) -> dict[str, Any]:
    """Return pristine model defaults."""
    if not model_type.startswith("t2v"):
        raise ValueError(f"Unknown model_type: {model_type}")
    return {
        "model_type": model_type,
        "prompt": "",
        "resolution": "832x480",
        "video_length": 81,
        "num_inference_steps": 30,
        "seed": -1,
    }


@server.tool()
async def wangp_generate(
    source: dict[str, Any] | list[dict[str, Any]],
    ctx: Context,
    wait: bool = False,
    timeout_s: float | None = None,
    event_limit: int | None = None,
) -> dict[str, Any]:
    """Start a WanGP generation from a settings dict, task dict, or task list."""
    await ctx.info("Processing request of type CallToolRequest")
    job_id = uuid.uuid4().hex
    JOBS[job_id] = {
        "job_id": job_id,
        "done": False,
        "cancel_requested": False,
        "events": [],
        "result": None,
        "source": source,
    }
    return JOBS[job_id]


@server.tool()
def wangp_get_job(job_id: str, event_limit: int | None = None) -> dict[str, Any]:
    """Poll a WanGP generation job."""
    if job_id not in JOBS:
        raise ValueError(f"'Unknown WanGP job_id: {job_id}'")
    return JOBS[job_id]


@server.tool()
def wangp_cancel_job(job_id: str, event_limit: int | None = None) -> dict[str, Any]:
    """Request cancellation of a WanGP generation job."""
    if job_id not in JOBS:
        raise ValueError(f"'Unknown WanGP job_id: {job_id}'")
    JOBS[job_id]["cancel_requested"] = True
    return JOBS[job_id]


if __name__ == "__main__":
    server.run(transport="streamable-http")
