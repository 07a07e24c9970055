"""A protocol-faithful ComfyUI stand-in (0.3.64 by default, or 0.38), as strict as the real server.

It validates every prompt against the real schema of all 478 node classes (`object_info_full.json`) with the
server's exact 400 bodies, "executes" graphs generically (placeholder media, per-step progress with binary
previews), and reproduces the quirks a client must survive (history after `execution_success`, `200 {}` for
unknown history, broadcasts without a client id, the deaf duplicate socket, partial accept, interrupts at node
boundaries, `/view` path checks, Range/ETag, upload renaming, 413). `version="0.38"` adds the jobs API, the UUID
prompt-id rule, `missing_node_type`, intermediate and 3D outputs, the dynamic SaveVideo schema and `activity`;
`token=` requires a bearer token on HTTP and the websocket. Faults are injected at runtime through
`server.faults`.

    async with ComfyUIStandIn(node_delay=0.0) as server: ...   # in a test's loop
    with ComfyUIStandIn().running_in_thread() as server: ...    # for sync callers
    python -m genbridge.standins.comfyui --port 8188            # for the demo

Modules: `server` (lifecycle, middlewares), `schema` (object_info, model combos, 0.38 schema), `validation`
(`POST /prompt` checks), `routes_meta`, `routes_queue`, `files`, `jobs_api`, `ws`, `executor`, `outputs`.
"""

from __future__ import annotations

from .cli import bundled_models, main
from .faults import Faults
from .schema import models_for
from .server import ComfyUIStandIn

VERSION = "0.3.64"  # the default version; a server's own is `server.version`

__all__ = ["VERSION", "ComfyUIStandIn", "Faults", "bundled_models", "main", "models_for"]
