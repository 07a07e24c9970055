"""A stand-in WanGP MCP server (streamable HTTP, stateless JSON-RPC) built from the 12.60 captures and the v2 contract.

Serves contract v1 (12.x, `gallery_id`), late v1 (`media_id`, `wangp_models`) or v2 (`wangp_session`, async only
with `async_generate`, `wangp_models` paged and filtered as WanGP's pager does), one generation at a time (the busy
refusal), progress/status/stream events, upload and download tickets, and injected failures. Generated "videos"
are real placeholder mp4s under `output_dir`.

In-process: `server = Wan2GPStandIn(contract="v2"); url = await server.start()`; or on its own thread with
`Wan2GPStandIn(...).run_in_thread()`. CLI: `python -m genbridge.standins.wan2gp --port 7866 --contract v1`.

Modules: `server` (HTTP, JSON-RPC, tool dispatch), `catalog` (models), `paging` (v2 search and cursors), `jobs`
(generations), `media` (gallery and transfers), `common` (captures, records).
"""

from __future__ import annotations

from .cli import main
from .common import BUSY, HUB_ERROR, MEDIA_KEYS, OOM_ERROR, SCHEMA_FIXTURES, SimJob, ToolFailure
from .server import Wan2GPStandIn

__all__ = [
    "BUSY",
    "HUB_ERROR",
    "MEDIA_KEYS",
    "OOM_ERROR",
    "SCHEMA_FIXTURES",
    "SimJob",
    "ToolFailure",
    "Wan2GPStandIn",
    "main",
]
