"""The stand-in server object: configuration, lifecycle, the route table and the middlewares.

Route handlers live in mixins by subject (`routes_meta`, `routes_queue`, `files`, `jobs_api`, `ws`,
`executor`); this module wires them to one aiohttp application. Everything runs on the event loop that called
`start()` (or on the private thread loop of `running_in_thread()`); tests touch `server.*` state from that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from .executor import ExecutorMixin
from .faults import Faults
from .files import FilesMixin
from .jobs_api import JobsApiMixin
from .routes_meta import MetaRoutesMixin
from .routes_queue import QueueRoutesMixin
from .schema import V038, VERSIONS, build_object_info
from .ws import SocketMixin, abort_ws

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)


class ComfyUIStandIn(MetaRoutesMixin, QueueRoutesMixin, FilesMixin, JobsApiMixin, SocketMixin, ExecutorMixin):
    """A protocol-faithful ComfyUI server on loopback.

    Knobs: `node_delay`/`step_delay` (seconds per node / sampler step), `vram_*`, `device`, `faults`,
    `version` ("0.3.64" default, or "0.38"), `models` ({folder: [files]}: the model files the server "has";
    None = none, like the captured server), `token` (a bearer token required on HTTP and the ws handshake).
    """

    def __init__(
        self,
        *,
        node_delay: float = 0.0,
        step_delay: float = 0.0,
        vram_total_gb: float = 24.0,
        vram_free_gb: float = 20.0,
        device: str = "cuda",
        root: str | Path | None = None,
        max_upload_size: int = 100 * 1024 * 1024,
        history_delay: float = 0.01,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = "0.3.64",
        models: dict[str, list[str]] | None = None,
        token: str | None = None,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown stand-in version {version!r}; use one of {sorted(VERSIONS)}")
        self.version = VERSIONS[version]
        self.node_delay, self.step_delay = node_delay, step_delay
        self.vram_total_gb, self.vram_free_gb, self.device = vram_total_gb, vram_free_gb, device
        self.max_upload_size = max_upload_size
        self.history_delay = history_delay  # gap between execution_success and the history write
        self.host, self.port = host, port
        self.token = token
        self.models = {k: list(v) for k, v in (models or {}).items()}
        self.faults = Faults()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="comfy-standin-")
            root = self._tmp.name
        self.root = Path(root)
        self.dirs = {t: self.root / t for t in ("input", "output", "temp")}
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        self.object_info = build_object_info(self.version, self.models)
        self.requests: list[tuple[str, str]] = []  # (method, path) log for tests
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._reset_state()

    @property
    def v038(self) -> bool:
        """True in 0.38 mode (jobs API, UUID prompt ids, missing_node_type, dynamic SaveVideo, ...)."""
        return self.version == V038

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}  # client id -> socket (the server's own mapping)
        self._all_ws: set[web.WebSocketResponse] = set()
        self._flags: dict[int, dict[str, Any]] = {}  # id(socket) -> feature flags the client sent
        self.queue: list[list[Any]] = []  # pending items [number, id, graph, extra_data, outputs]
        self.running: list[Any] | None = None
        self.running_node: str | None = None
        self.history: dict[str, Any] = {}
        self.cache: dict[str, Any] = {}  # node signature -> ui output (or None)
        self._number = 0
        self._interrupt: str | None = None
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        shutil.rmtree(self.dirs["temp"], ignore_errors=True)  # the real server wipes temp/ at startup
        self.dirs["temp"].mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def output_dir(self) -> Path:
        return self.dirs["output"]

    def _build_app(self) -> web.Application:
        middlewares = [self._fault_mw, self._origin_mw, self._auth_mw, self._not_found_mw]
        app = web.Application(middlewares=middlewares, client_max_size=self.max_upload_size)
        routes = [
            ("GET", "/ws", self.h_ws),
            ("GET", "/system_stats", self.h_system_stats),
            ("GET", "/features", self.h_features),
            ("GET", "/object_info", self.h_object_info),
            ("GET", "/object_info/{cls}", self.h_object_info_one),
            ("GET", "/embeddings", self.h_empty_list),
            ("GET", "/models", self.h_models),
            ("GET", "/models/{folder}", self.h_models_folder),
            ("GET", "/extensions", self.h_empty_list),
            ("GET", "/prompt", self.h_get_prompt),
            ("POST", "/prompt", self.h_post_prompt),
            ("GET", "/queue", self.h_get_queue),
            ("POST", "/queue", self.h_post_queue),
            ("POST", "/interrupt", self.h_interrupt),
            ("POST", "/free", self.h_free),
            ("GET", "/history", self.h_history),
            ("POST", "/history", self.h_post_history),
            ("GET", "/history/{id}", self.h_history_one),
            ("GET", "/view", self.h_view),
            ("POST", "/upload/image", self.h_upload),
        ]
        if self.v038:  # registered at literal /api/jobs paths; the /api mirror adds /api/api/jobs
            routes += [
                ("GET", "/api/jobs", self.h_jobs),
                ("POST", "/api/jobs/cancel", self.h_jobs_cancel_batch),
                ("GET", "/api/jobs/{id}", self.h_job),
                ("POST", "/api/jobs/{id}/cancel", self.h_job_cancel),
                ("GET", "/node_replacements", self.h_empty_dict),
            ]
        for method, path, handler in routes:
            for prefix in ("", "/api"):
                app.router.add_route(method, prefix + path, handler)  # GET routes also answer HEAD
        return app

    async def start(self) -> ComfyUIStandIn:
        """Start listening (port 0 picks a free port; a restart reuses the same port)."""
        self._wake = asyncio.Event()
        self._release = asyncio.Event()
        self._runner = web.AppRunner(self._build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        if self.port == 0 and server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]
        self._worker = asyncio.create_task(self._work())
        return self

    async def stop(self) -> None:
        """Stop like a killed server: sockets drop without a close frame, in-memory state is lost."""
        if self._worker is not None:
            for _ in range(10):  # bounded; see backends/comfyui/socket.py close()
                if self._worker.done():
                    break
                self._worker.cancel()
                await asyncio.wait([self._worker], timeout=0.1)
            self._worker = None
        self._release.set()
        for ws in list(self._all_ws):
            abort_ws(ws)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def kill(self) -> None:
        """SIGTERM: drop everything; connections are refused until `restart()`."""
        await self.stop()
        self._reset_state()

    async def restart(self) -> None:
        await self.start()

    async def __aenter__(self) -> ComfyUIStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[ComfyUIStandIn]:
        """Run on a private event loop in a daemon thread (benchmarks, demo, sync tests)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=main, name="comfyui-standin", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the ComfyUI stand-in did not start")
        self.loop = loop
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.__aexit__(None, None, None), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the stand-in's thread loop (e.g. `server.call(server.kill())`)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    # ---- middlewares -----------------------------------------------------------------------------------------

    @web.middleware
    async def _fault_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.faults.stall:
            await self._release.wait()  # never answers; released only when the server stops
        if self.faults.html_502:
            return web.Response(status=502, text=HTML_502, content_type="text/html")
        if (
            request.path in self.faults.http_500_paths
            or request.path.removeprefix("/api") in self.faults.http_500_paths
        ):
            return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
        return await handler(request)

    @web.middleware
    async def _origin_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None:
            origin_host = re.sub(r"^[a-z]+://", "", origin).rstrip("/")
            if origin_host != request.host:
                return web.Response(status=403)
        # 0.38's Fetch-Metadata guard (case-sensitive compare); top-level `GET /` navigation is exempt.
        if self.v038 and request.headers.get("Sec-Fetch-Site") == "cross-site":
            if not (request.method == "GET" and request.path == "/"):
                return web.Response(status=403)
        if request.method == "OPTIONS":
            return web.Response(status=200)  # captured: any route answers a preflight with an empty 200
        return await handler(request)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None:
            sent = request.headers.get("Authorization", "")
            ws_token = request.query.get("token") if request.path.endswith("/ws") else None
            if sent != f"Bearer {self.token}" and ws_token != self.token:
                body = {"error": "Unauthorized: missing or invalid bearer token"}
                return web.json_response(body, status=401, headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    @web.middleware
    async def _not_found_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:  # the real server's unknown-route 404: empty body, octet-stream
            return web.Response(status=404, content_type="application/octet-stream")
