"""The WanGP stand-in server: HTTP routes (the 307 to /mcp/, the 406 on a bad Accept), JSON-RPC, tool dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from ..fixtures import load_fixture
from .catalog import CatalogTools
from .common import SimJob, ToolFailure, fixture_body, fixture_initialize
from .jobs import JobTools
from .media import MediaTools
from .paging import ResultPages


class Wan2GPStandIn(CatalogTools, JobTools, MediaTools):
    """The stand-in server. `calls` records every tool call (name, arguments) for tests."""

    def __init__(
        self,
        *,
        contract: str = "v1",
        async_generate: bool = True,
        output_dir: str | Path | None = None,
        step_delay: float = 0.02,
        load_delay: float = 0.0,
        download_delay: float = 0.0,
        share_paths: bool = True,
        token: str | None = None,
        placeholder_max_side: int = 160,
        placeholder_max_frames: int = 17,
    ) -> None:
        if contract not in ("v1", "v1-late", "v2"):
            raise ValueError(f"unknown contract {contract!r}: use v1, v1-late or v2")
        self.contract = contract
        self.async_generate = async_generate
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if output_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wangp-standin-")
            output_dir = self._tmp.name
        self.output_dir = Path(output_dir)
        self.step_delay, self.load_delay, self.download_delay = step_delay, load_delay, download_delay
        self.share_paths = share_paths
        self.token = token
        self.placeholder_max_side, self.placeholder_max_frames = placeholder_max_side, placeholder_max_frames
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.jobs: dict[str, SimJob] = {}
        self.active: SimJob | None = None
        self.failures: list[str] = []  # injected, consumed one per generation: "oom", "download", "runtime"
        self.external_busy = 0  # refuse this many generate calls as if the WanGP UI were generating
        self.gallery: dict[str, dict[str, Any]] = {}
        self._uploads: dict[str, str] = {}
        self._downloads: dict[str, Path] = {}
        self._downloaded_models: set[str] = set()
        self._last_ts = 0.0
        self._catalog = {
            m["model_type"]: m for m in load_fixture("wan2gp", "50_video_model_catalog_derived.json")["models"]
        }
        # v2 searches the compact records (media inputs and capabilities) and pages them with cursors.
        self._raw_catalog = {
            m["model_type"]: m for m in load_fixture("wan2gp", "51_video_models_compact_raw.json")["models"]
        }
        self._pages = ResultPages()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/mcp", self._redirect)
        app.router.add_post("/mcp/", self._rpc)
        app.router.add_put("/wangp_api/gallery/upload/{token}", self._upload)
        app.router.add_get("/wangp_api/gallery/download/{token}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound}/mcp"
        return self.url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    @contextlib.contextmanager
    def run_in_thread(self, port: int = 0) -> Iterator[str]:
        """Serve on a private loop thread (for code that runs its own loop, like the Runtime); yields the URL."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start(port=port))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="wan2gp-standin", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the WanGP stand-in did not start")
        try:
            yield self.url
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def _authorized(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _redirect(self, request: web.Request) -> web.Response:
        # mcp 1.10 (WanGP 12.x) mounts the app at /mcp/ and redirects the bare path.
        raise web.HTTPTemporaryRedirect(location=str(request.url.with_path("/mcp/")))

    async def _rpc(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        accept = request.headers.get("Accept", "")
        if "application/json" not in accept or "text/event-stream" not in accept:
            return web.Response(
                status=406,
                content_type="application/json",
                text=json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": "server-error",
                        "error": {
                            "code": -32600,
                            "message": (
                                "Not Acceptable: Client must accept both application/json and text/event-stream"
                            ),
                        },
                    }
                ),
            )
        body = await request.json()
        method, rpc_id, params = body.get("method"), body.get("id"), body.get("params") or {}
        if method == "notifications/initialized":
            return web.Response(status=202, content_type="application/json")
        if method == "initialize":
            result: Any = fixture_initialize()
        elif method == "tools/list":
            result = {"tools": self._tools()}
        elif method == "tools/call":
            result = await self._call_tool(str(params.get("name")), dict(params.get("arguments") or {}))
        else:
            return web.json_response(
                {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": -32601, "message": "Method not found"}}
            )
        return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "result": result})

    def _tools(self) -> list[dict[str, Any]]:
        v1_tools = fixture_body("02_tools_list.json")["tools"]
        if self.contract == "v1":
            return copy.deepcopy(v1_tools)
        obj = {"type": "object"}
        if self.contract == "v1-late":
            return [
                *copy.deepcopy(v1_tools),
                {
                    "name": "wangp_models",
                    "inputSchema": {**obj, "properties": {"query": {}, "filters": {}, "limit": {}, "offset": {}}},
                },
                {
                    "name": "wangp_model",
                    "inputSchema": {**obj, "properties": {"model_type": {}, "view": {}, "property": {}}},
                },
            ]
        contract = load_fixture("wan2gp", "70_static_mcp_v2_contract_upstream.json")["tools"]
        generate = copy.deepcopy(contract["wangp_generate"]["params_schema"])
        generate["properties"]["wait"] = (
            {"type": "boolean", "default": True}
            if self.async_generate
            else {"type": "boolean", "default": True, "const": True}
        )
        tools = []
        for name, spec in contract.items():
            schema = (
                generate
                if name == "wangp_generate"
                else {**obj, "properties": {k: {} for k in spec.get("params", {})}, "additionalProperties": False}
            )
            tools.append({"name": name, "description": f"WanGP {name} (stand-in)", "inputSchema": schema})
        return tools

    def _tool_names(self) -> set[str]:
        return {t["name"] for t in self._tools()}

    async def _call_tool(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, copy.deepcopy(args)))
        if name not in self._tool_names():
            return {"content": [{"type": "text", "text": f"Unknown tool: {name}"}], "isError": True}
        handler = getattr(self, f"_tool_{name}", None)
        try:
            if handler is None:
                raise ToolFailure(f"{name} is not simulated by the stand-in")
            value, wrap = await handler(args)
        except ToolFailure as exc:
            return {"content": [{"type": "text", "text": f"Error executing tool {name}: {exc}"}], "isError": True}
        structured = {"result": value} if wrap or not isinstance(value, dict) else value
        return {
            "content": [{"type": "text", "text": json.dumps(value, indent=2)}] if value is not None else [],
            "structuredContent": structured,
            "isError": False,
        }
