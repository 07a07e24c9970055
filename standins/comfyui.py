"""A protocol-faithful ComfyUI 0.3.64 stand-in: the HTTP routes and websocket behaviour recorded in the captures.

It "executes" any API-format graph generically (each node takes `node_delay`; nodes with a `steps` input report
per-step progress; output nodes write placeholder media), and reproduces the quirks a client must survive:
history written after `execution_success`, `200 {}` for unknown history, broadcasts for prompts without a client
id, the bare `executing` replay on reconnect, the duplicate-client-id deaf socket, partial accept, the recorded
400 bodies, interrupts at node boundaries, `/view` path checks, Range/ETag, upload renaming and 413.
Faults can be injected at runtime through `server.faults`.

    async with ComfyUIStandIn(node_delay=0.0) as server: ...   # in a test's loop
    with ComfyUIStandIn().running_in_thread() as server: ...    # for sync callers
    python -m genbridge.standins.comfyui --port 8188            # for the demo
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import string
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .fixtures import load_fixture
from .placeholder import placeholder_png, write_placeholder_mp4

VERSION = "0.3.64"
IMAGE_OUTPUTS = {"SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveAnimatedPNG"}
VIDEO_OUTPUTS = {"SaveWEBM", "SaveVideo", "VHS_VideoCombine"}
OUTPUT_CLASSES = IMAGE_OUTPUTS | VIDEO_OUTPUTS | {"SaveImageWebsocket", "PreviewAny"}
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Faults:
    """Failure injection, flipped at runtime by tests."""

    html_502: bool = False  # every HTTP route answers a reverse proxy's HTML 502 page
    http_500_paths: set[str] = field(default_factory=set)  # these paths answer 500 text/plain
    stall: bool = False  # HTTP handlers and the ws handshake accept and never answer
    drop_socket_after: int | None = None  # close every socket abruptly after this many frames sent to it
    fail_node_class: str | None = None  # nodes of this class raise an execution_error
    orphan_sockets: bool = True  # reproduce the server's duplicate-client-id bug
    silent_socket: bool = False  # sockets stay open but receive nothing (for the watchdog)


def _object_info() -> dict[str, Any]:
    data = load_fixture("comfyui", "01_endpoints.json")
    info: dict[str, Any] = {}
    for req, resp in zip(data["requests"], data["responses"], strict=False):
        if req["path"].startswith("/object_info/") and isinstance(resp.get("json"), dict):
            info.update(resp["json"])
    return info


def _recorded_prompt_errors() -> dict[str, tuple[int, Any]]:
    """Exact /prompt replies from the validation capture, keyed by the canonical graph."""
    data = load_fixture("comfyui", "06_validation_errors.json")
    responses = {r["id"]: r for r in data["responses"]}
    out: dict[str, tuple[int, Any]] = {}
    for req in data["requests"]:
        body = req.get("json")
        resp = responses.get(req["id"])
        if req["path"] != "/prompt" or not isinstance(body, dict) or resp is None or "prompt" not in body:
            continue
        if resp["status"] == 400:
            out[json.dumps(body["prompt"], sort_keys=True)] = (400, resp.get("json"))
    return out


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


class ComfyUIStandIn:
    """The stand-in server. Knobs: node_delay, step_delay, vram_free_gb, vram_total_gb, device, faults."""

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
        strict_classes: bool = False,
        history_delay: float = 0.01,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.node_delay, self.step_delay = node_delay, step_delay
        self.vram_total_gb, self.vram_free_gb, self.device = vram_total_gb, vram_free_gb, device
        self.max_upload_size = max_upload_size
        self.history_delay = history_delay  # gap between execution_success and the history write
        self.strict_classes = strict_classes  # reject classes missing from the captured object_info
        self.host, self.port = host, port
        self.faults = Faults()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="comfy-standin-")
            root = self._tmp.name
        self.root = Path(root)
        self.dirs = {t: self.root / t for t in ("input", "output", "temp")}
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        self.object_info = _object_info()
        self._recorded = _recorded_prompt_errors()
        self.requests: list[tuple[str, str]] = []  # (method, path) log for tests
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._reset_state()

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}  # client id -> socket (the server's own mapping)
        self._all_ws: set[web.WebSocketResponse] = set()
        self.queue: list[list[Any]] = []  # pending items [number, id, graph, extra_data, outputs]
        self.running: list[Any] | None = None
        self.running_node: str | None = None
        self.history: dict[str, Any] = {}
        self.cache: dict[str, Any] = {}  # node signature -> ui output (or None)
        self._number = 0
        self._interrupt: str | None = None  # "*" = global
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        shutil_rm_tree(self.dirs["temp"])
        self.dirs["temp"].mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def output_dir(self) -> Path:
        return self.dirs["output"]

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_mw, self._origin_mw], client_max_size=self.max_upload_size)
        routes = [
            ("GET", "/ws", self.h_ws),
            ("GET", "/system_stats", self.h_system_stats),
            ("GET", "/features", self.h_features),
            ("GET", "/object_info", self.h_object_info),
            ("GET", "/object_info/{cls}", self.h_object_info_one),
            ("GET", "/embeddings", _empty_list),
            ("GET", "/models", self.h_models),
            ("GET", "/models/{folder}", self.h_models_folder),
            ("GET", "/extensions", _empty_list),
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
            _abort_ws(ws)
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
        return await handler(request)

    # ---- websocket -------------------------------------------------------------------------------------------

    async def h_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        ws._standin_sent = 0  # type: ignore[attr-defined]
        self.sockets[sid] = ws
        self._all_ws.add(ws)
        try:
            await self._send_to(ws, "status", {"status": self._exec_info(), "sid": sid})
            if self.running is not None and self.running_node and self.running[3].get("client_id") == sid:
                await self._send_to(ws, "executing", {"node": self.running_node})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    with contextlib.suppress(ValueError, AttributeError):
                        data = json.loads(msg.data)
                        if data.get("type") == "feature_flags":
                            await self._send_to(ws, "feature_flags", self._features())
        finally:
            self._all_ws.discard(ws)
            if self.faults.orphan_sockets:
                self.sockets.pop(sid, None)  # the server's bug: may remove a newer socket's mapping
            elif self.sockets.get(sid) is ws:
                del self.sockets[sid]
        return ws

    async def _send_to(self, ws: web.WebSocketResponse, kind: str, data: dict[str, Any]) -> None:
        if ws.closed or self.faults.silent_socket:
            return
        limit = self.faults.drop_socket_after
        sent = getattr(ws, "_standin_sent", 0)
        if limit is not None and sent >= limit:
            _abort_ws(ws)
            return
        ws._standin_sent = sent + 1  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps({"type": kind, "data": data}))

    async def _send(self, kind: str, data: dict[str, Any], client_id: str | None, *, broadcast_if_none: bool) -> None:
        """Route like the server: to the prompt's client, or to everyone for broadcast types without one."""
        if client_id:
            ws = self.sockets.get(client_id)
            if ws is not None:
                await self._send_to(ws, kind, data)
        elif broadcast_if_none:
            for ws in list(self.sockets.values()):
                await self._send_to(ws, kind, data)

    async def _broadcast_status(self) -> None:
        for ws in list(self.sockets.values()):
            await self._send_to(ws, "status", {"status": self._exec_info()})

    def _exec_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self.queue) + (1 if self.running else 0)}}

    # ---- metadata routes -------------------------------------------------------------------------------------

    def _features(self) -> dict[str, Any]:
        return {"supports_preview_metadata": True, "max_upload_size": self.max_upload_size}

    async def h_system_stats(self, request: web.Request) -> web.Response:
        gb = 1024**3
        cpu = self.device == "cpu"
        total, free = int(self.vram_total_gb * gb), int(self.vram_free_gb * gb)
        device = {
            "name": "cpu" if cpu else "cuda:0 Stand-in GPU : cudaMallocAsync",
            "type": "cpu" if cpu else "cuda",
            "index": None if cpu else 0,
            "vram_total": total,
            "vram_free": free,
            "torch_vram_total": total,
            "torch_vram_free": free,
        }
        system = {
            "os": "posix",
            "ram_total": 32 * gb,
            "ram_free": 24 * gb,
            "comfyui_version": VERSION,
            "required_frontend_version": "1.27.10",
            "python_version": "3.11.7",
            "pytorch_version": "2.13.0+cpu" if cpu else "2.13.0+cu130",
            "embedded_python": False,
            "argv": ["main.py", "--standin"],
        }
        return web.json_response({"system": system, "devices": [device]})

    async def h_features(self, request: web.Request) -> web.Response:
        return web.json_response(self._features())

    async def h_object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.object_info)

    async def h_object_info_one(self, request: web.Request) -> web.Response:
        cls = request.match_info["cls"]
        return web.json_response({cls: self.object_info[cls]} if cls in self.object_info else {})

    async def h_models(self, request: web.Request) -> web.Response:
        return web.json_response(["checkpoints", "loras", "vae", "text_encoders", "diffusion_models", "upscale_models"])

    async def h_models_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        known = {"checkpoints": ["standin_sdxl.safetensors"], "loras": [], "vae": [], "text_encoders": []}
        known |= {"diffusion_models": ["wan2.1_t2v_1.3B_fp16.safetensors"], "upscale_models": []}
        if folder not in known:
            return web.Response(status=404)
        return web.json_response(known[folder])

    # ---- queue routes ----------------------------------------------------------------------------------------

    async def h_get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._exec_info())

    async def h_get_queue(self, request: web.Request) -> web.Response:
        return web.json_response({"queue_running": [self.running] if self.running else [], "queue_pending": self.queue})

    async def h_post_queue(self, request: web.Request) -> web.Response:
        body = await _json_or_empty(request)
        if body.get("clear"):
            self.queue.clear()
        ids = set(body.get("delete") or [])
        if ids:
            self.queue = [item for item in self.queue if item[1] not in ids]
        await self._broadcast_status()
        return web.Response(status=200)

    async def h_interrupt(self, request: web.Request) -> web.Response:
        body = await _json_or_empty(request)
        pid = body.get("prompt_id")
        if self.running is not None and (not pid or pid == self.running[1]):
            self._interrupt = self.running[1]
        return web.Response(status=200)

    async def h_free(self, request: web.Request) -> web.Response:
        body = await _json_or_empty(request)
        if body.get("free_memory"):
            self.cache.clear()
        if body.get("unload_models") or body.get("free_memory"):
            self.vram_free_gb = self.vram_total_gb
        return web.Response(status=200)

    async def h_history(self, request: web.Request) -> web.Response:
        items = list(self.history.items())
        offset = int(request.query.get("offset", 0) or 0)
        if "max_items" in request.query:
            n = int(request.query["max_items"])
            items = items[offset : offset + n] if "offset" in request.query else (items[-n:] if n else [])
        else:
            items = items[offset:]
        return web.json_response(dict(items))

    async def h_history_one(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def h_post_history(self, request: web.Request) -> web.Response:
        body = await _json_or_empty(request)
        if body.get("clear"):
            self.history.clear()
        for pid in body.get("delete") or []:
            self.history.pop(pid, None)
        return web.Response(status=200)

    # ---- submit and validation -------------------------------------------------------------------------------

    async def h_post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
        if not isinstance(body, dict) or "prompt" not in body:
            return _error(400, "no_prompt", "No prompt provided", "")
        graph = body["prompt"]
        pid = str(body.get("prompt_id") or uuid.uuid4())
        self._number += 1
        number = body.get("number")
        number = float(number) if number is not None else (-self._number if body.get("front") else self._number)
        recorded = self._recorded.get(json.dumps(graph, sort_keys=True))
        if recorded is not None:
            return web.json_response(recorded[1], status=recorded[0])
        if not isinstance(graph, dict):
            return _error(400, "prompt_no_outputs", "Prompt has no outputs", "")
        problem = self._check_graph(graph)
        if problem is not None:
            return problem
        outputs = [nid for nid, node in graph.items() if self._is_output(node["class_type"])]
        targets = body.get("partial_execution_targets")
        if targets:
            outputs = [o for o in outputs if o in targets]
        if not outputs:
            return _error(400, "prompt_no_outputs", "Prompt has no outputs", "")
        node_errors: dict[str, Any] = {}
        good = []
        for out in outputs:
            errs = self._validate_branch(graph, out)
            if errs:
                for nid, e in errs.items():
                    entry = node_errors.setdefault(nid, {"errors": [], "dependent_outputs": [], "class_type": e[1]})
                    if e[0] not in entry["errors"]:
                        entry["errors"].append(e[0])
                    entry["dependent_outputs"].append(out)
            else:
                good.append(out)
        if not good:
            return web.json_response(
                {
                    "error": {
                        "type": "prompt_outputs_failed_validation",
                        "message": "Prompt outputs failed validation",
                        "details": "",
                        "extra_info": {},
                    },
                    "node_errors": node_errors,
                },
                status=400,
            )
        extra = dict(body.get("extra_data") or {})
        if body.get("client_id"):
            extra["client_id"] = body["client_id"]
        self.queue.append([number, pid, graph, extra, good])
        await self._broadcast_status()
        self._wake.set()
        return web.json_response({"prompt_id": pid, "number": number, "node_errors": node_errors})

    def _is_output(self, cls: str) -> bool:
        info = self.object_info.get(cls)
        if info is not None:
            return bool(info.get("output_node"))
        return cls in OUTPUT_CLASSES or cls.startswith(("Save", "Preview"))

    def _check_graph(self, graph: dict[str, Any]) -> web.Response | None:
        for nid, node in graph.items():
            if not isinstance(node, dict) or "class_type" not in node:
                return _error(
                    400,
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{nid}'",
                )
            cls = node["class_type"]
            if cls not in self.object_info and (self.strict_classes or cls == "NoSuchNode"):
                msg = f"Cannot execute because node {cls} does not exist."
                return _error(400, "invalid_prompt", msg, f"Node ID '#{nid}'")
        return None

    def _validate_branch(self, graph: dict[str, Any], out: str) -> dict[str, tuple[dict[str, Any], str]]:
        """Errors of every node feeding output `out`, in the server's node_errors shape."""
        errors: dict[str, tuple[dict[str, Any], str]] = {}
        seen: set[str] = set()
        stack = [out]
        while stack:
            nid = stack.pop()
            if nid in seen:
                continue
            seen.add(nid)
            node = graph[nid]
            cls = node["class_type"]
            inputs = node.get("inputs") or {}
            for value in inputs.values():
                if _is_link(value):
                    if value[0] not in graph:
                        errors[nid] = (
                            _err(
                                "exception_during_validation",
                                "Exception when validating node",
                                f"'{value[0]}'",
                                {"exception_type": "KeyError", "traceback": []},
                            ),
                            cls,
                        )
                    else:
                        stack.append(value[0])
            info = self.object_info.get(cls)
            if info is None or nid in errors:
                continue
            for name, spec in (info.get("input", {}).get("required") or {}).items():
                if name not in inputs:
                    extra = {"input_name": name}
                    errors[nid] = (_err("required_input_missing", "Required input is missing", name, extra), cls)
                    break
                value = inputs[name]
                if _is_link(value):
                    continue
                problem = _check_value(name, value, spec)
                if problem is not None:
                    errors[nid] = (problem, cls)
                    break
            if cls in ("LoadImage",) and nid not in errors:
                image = str(inputs.get("image", "")).removesuffix(" [input]")
                if not (self.dirs["input"] / image).is_file():
                    errors[nid] = (
                        _err(
                            "custom_validation_failed",
                            "Custom validation failed for node",
                            f"image - Invalid image file: {image}",
                            {"input_name": "image"},
                        ),
                        cls,
                    )
        return errors

    # ---- execution -------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            while not self.queue:
                self._wake.clear()
                await self._wake.wait()
            self.queue.sort(key=lambda item: item[0])
            item = self.queue.pop(0)
            self.running = item
            self._interrupt = None
            await self._broadcast_status()
            try:
                await self._execute(item)
            except asyncio.CancelledError:
                raise
            finally:
                self.running = None
                self.running_node = None

    def _order(self, graph: dict[str, Any], outputs: list[str]) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(nid: str) -> None:
            if nid in seen:
                return
            seen.add(nid)
            for value in (graph[nid].get("inputs") or {}).values():
                if _is_link(value) and value[0] in graph:
                    visit(value[0])
            order.append(nid)

        for out in sorted(outputs, key=lambda o: (len(o), o)):
            visit(out)
        return order

    def _signature(self, graph: dict[str, Any], nid: str, memo: dict[str, str]) -> str:
        if nid in memo:
            return memo[nid]
        node = graph[nid]
        parts = [node["class_type"]]
        for name, value in sorted((node.get("inputs") or {}).items()):
            if _is_link(value) and value[0] in graph:
                parts.append(f"{name}=<{self._signature(graph, value[0], memo)}:{value[1]}>")
            else:
                parts.append(f"{name}={json.dumps(value, sort_keys=True)}")
        if self._is_output(node["class_type"]) and node["class_type"] == "PreviewImage":
            parts.append(nid)
        memo[nid] = hashlib.sha1("|".join(parts).encode()).hexdigest()
        return memo[nid]

    async def _execute(self, item: list[Any]) -> None:
        _, pid, graph, extra, outputs = item
        cid = extra.get("client_id")
        order = self._order(graph, outputs)
        memo: dict[str, str] = {}
        sigs = {nid: self._signature(graph, nid, memo) for nid in order}
        cached = [nid for nid in order if sigs[nid] in self.cache]
        messages: list[Any] = []
        ui_outputs: dict[str, Any] = {}
        states: dict[str, dict[str, Any]] = {}
        executed: list[str] = []

        async def client_msg(kind: str, data: dict[str, Any], broadcast: bool = False) -> None:
            await self._send(kind, data, cid, broadcast_if_none=broadcast)

        def stamp(kind: str, data: dict[str, Any]) -> dict[str, Any]:
            data = {**data, "prompt_id": pid, "timestamp": int(time.time() * 1000)}
            messages.append([kind, data])
            return data

        async def progress_state() -> None:
            await client_msg("progress_state", {"prompt_id": pid, "nodes": dict(states)}, broadcast=True)

        def node_state(nid: str, value: float, mx: float, state: str) -> None:
            states[nid] = {
                "value": value,
                "max": mx,
                "state": state,
                "node_id": nid,
                "prompt_id": pid,
                "display_node_id": nid,
                "parent_node_id": None,
                "real_node_id": nid,
            }

        await client_msg("execution_start", stamp("execution_start", {}))
        await client_msg("execution_cached", stamp("execution_cached", {"nodes": cached}))
        error: dict[str, Any] | None = None
        for nid in order:
            node = graph[nid]
            cls = node["class_type"]
            if nid in cached:
                ui = self.cache[sigs[nid]]
                if ui is not None:
                    ui_outputs[nid] = ui
                    await client_msg("executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": pid})
                node_state(nid, 1.0, 1.0, "finished")
                await progress_state()
                continue
            if self._interrupt == pid:
                data = stamp("execution_interrupted", {"node_id": nid, "node_type": cls, "executed": list(executed)})
                await client_msg("execution_interrupted", data, broadcast=True)
                error = data
                break
            self.running_node = nid
            node_state(nid, 0.0, 1.0, "running")
            await progress_state()
            await client_msg("executing", {"node": nid, "display_node": nid, "prompt_id": pid})
            inputs = node.get("inputs") or {}
            steps = inputs.get("steps")
            if isinstance(steps, int) and steps > 0:
                for step in range(1, steps + 1):
                    await asyncio.sleep(self.step_delay)
                    node_state(nid, float(step), float(steps), "running")
                    await progress_state()
                    await client_msg(
                        "progress", {"value": step, "max": steps, "prompt_id": pid, "node": nid}, broadcast=True
                    )
                    if self._interrupt == pid:
                        break
            if self.node_delay:
                await asyncio.sleep(self.node_delay)
            try:
                ui = await self._run_output_node(graph, nid, pid) if self._is_output(cls) else None
                if self.faults.fail_node_class == cls:
                    raise RuntimeError(f"Stand-in failure injected into {cls}")
            except Exception as exc:  # noqa: BLE001 - becomes execution_error, like the real worker
                data = stamp(
                    "execution_error",
                    {
                        "node_id": nid,
                        "node_type": cls,
                        "executed": list(executed),
                        "exception_message": f"{exc}\n",
                        "exception_type": type(exc).__name__,
                        "traceback": [f'  File "<comfyui-root>/nodes.py", line 1, in {cls}\n'],
                        "current_inputs": {},
                        "current_outputs": list(executed),
                    },
                )
                await client_msg("execution_error", data)
                error = data
                break
            self.cache[sigs[nid]] = ui
            if ui is not None:
                ui_outputs[nid] = ui
                await client_msg("executed", {"node": nid, "display_node": nid, "output": ui, "prompt_id": pid})
            executed.append(nid)
            node_state(nid, 1.0, 1.0, "finished")
            await progress_state()
        if error is None:
            await client_msg("execution_success", stamp("execution_success", {}))
            # The real worker writes history only after execution_success is sent: let a client race it.
            await asyncio.sleep(self.history_delay)
        self.history[pid] = {
            "prompt": item,
            "outputs": ui_outputs,
            "status": {"status_str": "error" if error else "success", "completed": error is None, "messages": messages},
            "meta": {
                nid: {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
                for nid in ui_outputs
            },
        }
        self.running = None
        await self._broadcast_status()
        await client_msg("executing", {"node": None, "prompt_id": pid})

    def _find_upstream(self, graph: dict[str, Any], nid: str, names: tuple[str, ...]) -> Any:
        """The first literal value of any of `names` on this node or its ancestors (breadth first)."""
        queue, seen = [nid], set()
        while queue:
            cur = queue.pop(0)
            if cur in seen or cur not in graph:
                continue
            seen.add(cur)
            for name, value in (graph[cur].get("inputs") or {}).items():
                if name in names and not _is_link(value):
                    return value
                if _is_link(value):
                    queue.append(value[0])
        return None

    async def _run_output_node(self, graph: dict[str, Any], nid: str, pid: str) -> dict[str, Any] | None:
        cls = graph[nid]["class_type"]
        inputs = graph[nid].get("inputs") or {}
        width = int(self._find_upstream(graph, nid, ("width",)) or 512)
        height = int(self._find_upstream(graph, nid, ("height",)) or 512)
        text = str(self._find_upstream(graph, nid, ("text", "prompt", "positive_prompt")) or cls)[:80]
        if cls == "PreviewAny":
            return {"text": [text]}
        if cls == "SaveImageWebsocket":
            return None
        batch = int(self._find_upstream(graph, nid, ("batch_size",)) or 1)
        frames = int(self._find_upstream(graph, nid, ("length", "frames", "num_frames", "video_length")) or 0)
        fps = int(float(self._find_upstream(graph, nid, ("fps", "frame_rate")) or 16))
        prefix = str(inputs.get("filename_prefix", "ComfyUI"))
        if cls == "PreviewImage":
            kind, subfolder = "temp", ""
            base = "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
        else:
            kind = "output"
            subfolder, _, base = prefix.replace("\\", "/").rpartition("/")
            if ".." in prefix.split("/") or prefix.startswith("/"):
                raise Exception(
                    "**** ERROR: Saving image outside the output folder is not allowed.\n"
                    f" full_output_folder: <comfyui-root>/output/{subfolder}\n"
                    "         output_dir: <comfyui-root>/output"
                )
        folder = self.dirs[kind] / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        counter = _next_counter(folder, base)
        label = f"{text} ({cls} {pid[:8]})"
        if cls in VIDEO_OUTPUTS:
            ext = ".webm" if cls == "SaveWEBM" else ".mp4"
            name = f"{base}_{counter:05d}_{ext}"
            await asyncio.to_thread(write_placeholder_mp4, folder / name, label, width, height, max(frames, 8), fps)
            return {"images": [{"filename": name, "subfolder": subfolder, "type": kind}], "animated": [True]}
        if cls in ("SaveAnimatedWEBP", "SaveAnimatedPNG"):
            ext = ".webp" if cls == "SaveAnimatedWEBP" else ".png"
            name = f"{base}_{counter:05d}_{ext}"
            (folder / name).write_bytes(placeholder_png(label, width, height))
            return {"images": [{"filename": name, "subfolder": subfolder, "type": kind}], "animated": [True]}
        images = []
        for i in range(max(1, batch)):
            name = f"{base}_{counter + i:05d}_.png"
            (folder / name).write_bytes(placeholder_png(label, width, height))
            images.append({"filename": name, "subfolder": subfolder, "type": kind})
        return {"images": images}

    # ---- files -----------------------------------------------------------------------------------------------

    async def h_view(self, request: web.Request) -> web.StreamResponse:
        filename = request.query.get("filename", "")
        kind = request.query.get("type", "output")
        m = re.match(r"^(.*) \[(output|input|temp)\]$", filename)
        if m:
            filename, kind = m.group(1), m.group(2)
        if not filename or ".." in filename or filename.startswith("/") or kind not in self.dirs:
            return web.Response(status=400)
        filename = os.path.basename(filename)
        base = self.dirs[kind].resolve()
        folder = (base / request.query.get("subfolder", "")).resolve()
        if os.path.commonpath([base, folder]) != str(base):
            return web.Response(status=403)
        path = folder / filename
        if not path.is_file():
            return web.Response(status=404)
        return web.FileResponse(path, headers={"Content-Disposition": f'filename="{filename}"'})

    async def h_upload(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text=f"Maximum request body size {self.max_upload_size} exceeded.")
        image = form.get("image")
        if image is None or not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        kind = str(form.get("type", "input"))
        if kind not in self.dirs:
            return web.Response(status=400)
        subfolder = str(form.get("subfolder", ""))
        name = image.filename
        if name.startswith("/") or ".." in name.split("/") or "/" in name:
            return web.Response(status=400)
        base = self.dirs[kind].resolve()
        folder = (base / subfolder).resolve()
        if os.path.isabs(subfolder) or os.path.commonpath([base, folder]) != str(base):
            return web.Response(status=400)
        folder.mkdir(parents=True, exist_ok=True)
        data = image.file.read()
        overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
        target = folder / name
        if target.exists() and not overwrite:
            stem, ext = os.path.splitext(name)
            n = 1
            while target.exists():
                if target.read_bytes() == data:
                    break
                target = folder / f"{stem} ({n}){ext}"
                n += 1
        target.write_bytes(data)
        return web.json_response({"name": target.name, "subfolder": subfolder, "type": kind})


# ---- helpers ---------------------------------------------------------------------------------------------------


async def _empty_list(request: web.Request) -> web.Response:
    return web.json_response([])


def _err(kind: str, message: str, details: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def _error(status: int, kind: str, message: str, details: str) -> web.Response:
    return web.json_response({"error": _err(kind, message, details, {}), "node_errors": {}}, status=status)


def _check_value(name: str, value: Any, spec: Any) -> dict[str, Any] | None:
    if not isinstance(spec, list) or not spec:
        return None
    kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    extra = {"input_name": name, "input_config": spec, "received_value": value}
    if kind in ("INT", "FLOAT"):
        try:
            number = int(value) if kind == "INT" else float(value)
        except (TypeError, ValueError) as exc:
            extra["exception_message"] = str(exc)
            return _err(
                "invalid_input_type",
                f"Failed to convert an input value to a {kind} value",
                f"{name}, {value}, {exc}",
                extra,
            )
        if "min" in opts and number < opts["min"]:
            return _err("value_smaller_than_min", f"Value {number} smaller than min of {opts['min']}", f"{name}", extra)
        if "max" in opts and number > opts["max"]:
            return _err("value_bigger_than_max", f"Value {number} bigger than max of {opts['max']}", f"{name}", extra)
    options = kind if isinstance(kind, list) else (opts.get("options") if kind == "COMBO" else None)
    if isinstance(options, list) and value not in options and name != "image":
        if len(options) > 20:
            extra["input_config"] = None
        return _err("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {options}", extra)
    return None


def _next_counter(folder: Path, base: str) -> int:
    pattern = re.compile(re.escape(base) + r"_(\d{5})_")
    highest = 0
    for entry in os.scandir(folder):
        m = pattern.match(entry.name)
        if m:
            highest = max(highest, int(m.group(1)))
    return highest + 1


async def _json_or_empty(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _abort_ws(ws: web.WebSocketResponse) -> None:
    """Drop a socket without a close frame (close code 1006 on the client), like a killed server."""
    req = getattr(ws, "_req", None)
    transport = getattr(req, "transport", None) if req is not None else None
    if transport is not None:
        transport.abort()


def shutil_rm_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genbridge.standins.comfyui", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--node-delay", type=float, default=0.2, help="seconds each node takes")
    parser.add_argument("--step-delay", type=float, default=0.05, help="seconds per sampler step")
    parser.add_argument("--root", help="folder for input/, output/, temp/ (default: a temporary folder)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--vram-total-gb", type=float, default=24.0)
    parser.add_argument("--vram-free-gb", type=float, default=20.0)
    args = parser.parse_args(argv)
    server = ComfyUIStandIn(
        node_delay=args.node_delay,
        step_delay=args.step_delay,
        root=args.root,
        device=args.device,
        vram_total_gb=args.vram_total_gb,
        vram_free_gb=args.vram_free_gb,
        host=args.host,
        port=args.port,
    )

    async def serve() -> None:
        async with server:
            print(f"ComfyUI stand-in {VERSION} on {server.url} (files in {server.root})", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
