"""A stand-in WanGP MCP server (streamable HTTP, stateless JSON-RPC) built from the 12.60 captures and the v2 contract.

Serves contract v1 (12.x, `gallery_id`), late v1 (`media_id`, `wangp_models`) or v2 (`wangp_session`, async only
with `async_generate`), one generation at a time (the busy refusal), progress/status/stream events, upload and
download tickets, and injected failures. Generated "videos" are real placeholder mp4s under `output_dir`.

In-process: `server = Wan2GPStandIn(contract="v2"); url = await server.start()`; or on its own thread with
`Wan2GPStandIn(...).run_in_thread()`. CLI: `python -m genbridge.standins.wan2gp --port 7866 --contract v1`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .fixtures import load_fixture

SCHEMA_FIXTURES = ("t2v", "t2v_2_2", "i2v_2_2", "hunyuan_1_5_t2v", "ltx2_22B_distilled")
BUSY = "WanGP session already has a generation in progress"
HUB_ERROR = (
    "An error happened while trying to locate the file on the Hub and we cannot find the requested files "
    "in the local cache. Please check your connection and try again or make sure your Internet connection "
    "is on."
)
OOM_ERROR = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 11.99 GiB total capacity)"
MEDIA_KEYS = ("image_start", "image_end", "image_refs", "video_guide", "video_source", "audio_guide")


def _fixture_body(name: str) -> Any:
    return load_fixture("wan2gp", name)["response"]["body"]["result"]


def _structured(name: str) -> Any:
    value = _fixture_body(name)["structuredContent"]
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


class Wan2GPStandIn:
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
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def inject_failure(self, kind: str) -> None:
        """Make the next generation fail: "oom" (at the first step), "download" (weights), "runtime"."""
        self.failures.append(kind)

    def generate_calls(self) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == "wangp_generate"]

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
            raise RuntimeError("the Wan2GP stand-in did not start")
        try:
            yield self.url
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # -- HTTP -----------------------------------------------------------------------------------------------------
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
            result: Any = _fixture_body_initialize()
        elif method == "tools/list":
            result = {"tools": self._tools()}
        elif method == "tools/call":
            result = await self._call_tool(str(params.get("name")), dict(params.get("arguments") or {}))
        else:
            return web.json_response(
                {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": -32601, "message": "Method not found"}}
            )
        return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "result": result})

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        filename = self._uploads.pop(request.match_info["token"], None)
        if filename is None:
            return web.json_response({"error": "Upload expired or not found."}, status=404)
        target = self.output_dir / "mcp_uploads" / uuid.uuid4().hex / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with target.open("wb") as out:
            async for chunk in request.content.iter_chunked(1 << 20):
                size += len(chunk)
                out.write(chunk)
        media_type = "image" if target.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") else "video"
        record = self._register(target, media_type)
        return web.json_response({"status": "uploaded", "size": size, **record})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "invalid_token"}, status=401)
        path = self._downloads.pop(request.match_info["token"], None)
        if path is None:
            return web.json_response({"error": "Download expired or not found."}, status=404)
        return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})

    # -- tools ----------------------------------------------------------------------------------------------------
    def _tools(self) -> list[dict[str, Any]]:
        v1_tools = _fixture_body("02_tools_list.json")["tools"]
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

    # models
    def _schema(self, model_type: str) -> dict[str, Any] | None:
        if model_type in SCHEMA_FIXTURES:
            return _structured(f"07_model_schema_{model_type}.json")
        record = self._catalog.get(model_type)
        if record is None:
            return None
        keys = (
            "model_type",
            "name",
            "family",
            "base_model_type",
            "finetune",
            "inputs",
            "outputs",
            "capabilities",
            "fps",
            "frames_minimum",
            "frames_steps",
            "frames_maximum",
            "sliding_window",
        )
        meta = {k: record[k] for k in keys if k in record}
        meta["media_inputs"] = {"image": {"start": "image" in record.get("inputs", [])}}
        return {"metadata": meta}

    def _defaults(self, model_type: str) -> dict[str, Any]:
        if model_type in SCHEMA_FIXTURES:
            return dict(_structured(f"08_default_settings_{model_type}.json"))
        record = self._catalog.get(model_type)
        if record is None:
            raise ToolFailure(f"Unknown model_type: {model_type}")
        return {
            "prompt": "",
            "resolution": record["default_resolution"],
            "video_length": record["default_video_length"],
            "num_inference_steps": record["default_num_inference_steps"],
            "seed": -1,
            "model_type": model_type,
        }

    def _compact(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: record[k] for k in ("model_type", "name", "family", "base_model_type", "inputs", "capabilities")}

    async def _tool_wangp_list_models(self, args: dict[str, Any]) -> tuple[Any, bool]:
        limit, offset = min(int(args.get("limit") or 10), 10), int(args.get("offset") or 0)
        records = list(self._catalog.values())[offset : offset + limit]
        return [self._compact(r) for r in records], True

    async def _tool_wangp_get_model_schema(self, args: dict[str, Any]) -> tuple[Any, bool]:
        return self._schema(str(args.get("model_type"))), True

    async def _tool_wangp_get_default_settings(self, args: dict[str, Any]) -> tuple[Any, bool]:
        return self._defaults(str(args.get("model_type"))), False

    async def _tool_wangp_get_model_availability(self, args: dict[str, Any]) -> tuple[Any, bool]:
        model = str(args.get("model_type"))
        ok = model in self._downloaded_models or not self.download_delay
        return {
            "model_type": model,
            "status": "available" if ok else "missing",
            "status_code": 2 if ok else 0,
            "indicator": "green" if ok else "black_square",
            "available": ok,
        }, False

    async def _tool_wangp_models(self, args: dict[str, Any]) -> tuple[Any, bool]:
        if self.contract == "v2":
            arguments = args.get("arguments") or {}
            limit = min(int(arguments.get("limit") or 20), 100)
            start = int(arguments.get("cursor") or 0)
            records = list(self._catalog.values())
            page = records[start : start + limit]
            more = start + limit < len(records)
            return {
                "models": [self._compact(r) for r in page],
                "count": len(page),
                "has_more": more,
                "next_cursor": str(start + limit) if more else None,
            }, False
        limit, offset = min(int(args.get("limit") or 10), 50), int(args.get("offset") or 0)
        records = list(self._catalog.values())
        page = records[offset : offset + limit]
        return {
            "models": [self._compact(r) for r in page],
            "total": len(records),
            "returned": len(page),
            "offset": offset,
            "has_more": offset + limit < len(records),
        }, False

    async def _tool_wangp_model(self, args: dict[str, Any]) -> tuple[Any, bool]:
        model = str(args.get("model_type"))
        view = args.get("action") if self.contract == "v2" else args.get("view", "schema")
        if view in ("schema", "capabilities"):
            schema = self._schema(model)
            if schema is None:
                raise ToolFailure(f"Unknown model_type: {model}")
            return schema, False
        if view == "defaults":
            return self._defaults(model), False
        raise ToolFailure(f"unsupported view {view!r} in the stand-in")

    # jobs
    async def _tool_wangp_generate(self, args: dict[str, Any]) -> tuple[Any, bool]:
        if self.contract == "v2":
            settings, wait = args.get("settings"), args.get("wait", True)
            if not self.async_generate and wait is False:
                raise ToolFailure(
                    "wait=false is unavailable: asynchronous execution is disabled. Nothing was submitted."
                )
            if not isinstance(settings, dict) or not settings.get("prompt"):
                raise ToolFailure("settings is required and needs model_type and a non-empty prompt")
            if self._schema(str(settings.get("model_type"))) is None:
                raise ToolFailure(f"settings.model_type: Unknown model_type: {settings.get('model_type')}")
        else:
            settings, wait = args.get("source"), bool(args.get("wait", False))
            if not isinstance(settings, dict):
                raise ToolFailure("2 validation errors for wangp_generateArguments")
        for key in MEDIA_KEYS:
            value = settings.get(key)
            if isinstance(value, str) and value and value not in self.gallery:
                if "/" in value or "\\" in value:
                    raise ToolFailure(
                        f"Direct filesystem paths are disabled for this MCP server. Use a Gallery id "
                        f"for {key}, or restart with filesystem reads enabled."
                    )
                raise ToolFailure(f"'Unknown WanGP gallery_id: {value}'")
        if self.external_busy > 0:
            self.external_busy -= 1
            raise ToolFailure(BUSY)
        if self.active is not None and not self.active.done:
            raise ToolFailure(BUSY)
        job = SimJob(uuid.uuid4().hex, dict(settings))
        self.jobs[job.job_id] = job
        self.active = job
        self._event(job, "started", {"tasks": 1})
        task = asyncio.get_running_loop().create_task(self._run_job(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if wait:
            timeout = args.get("timeout_s")
            try:
                await asyncio.wait_for(job.finished.wait(), timeout=float(timeout) if timeout else None)
            except TimeoutError:
                if self.contract != "v2":
                    raise ToolFailure("WanGP session job timed out") from None
                return {**job.snapshot(args.get("event_limit")), "status": "timeout", "waiting_timed_out": True}, False
        return job.snapshot(args.get("event_limit", 20 if self.contract != "v2" else 0)), False

    def _job(self, job_id: Any) -> SimJob:
        job = self.jobs.get(str(job_id))
        if job is None:
            raise ToolFailure(f"'Unknown WanGP job_id: {job_id}'")
        return job

    async def _tool_wangp_get_job(self, args: dict[str, Any]) -> tuple[Any, bool]:
        return self._job(args.get("job_id")).snapshot(args.get("event_limit")), False

    async def _tool_wangp_cancel_job(self, args: dict[str, Any]) -> tuple[Any, bool]:
        job = self._job(args.get("job_id"))
        if not job.done:
            job.cancel_requested = True
        return job.snapshot(args.get("event_limit")), False

    async def _tool_wangp_create_gallery_upload(self, args: dict[str, Any]) -> tuple[Any, bool]:
        filename = Path(str(args.get("filename", ""))).name
        if Path(filename).suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".mov", ".wav", ".mp3"):
            raise ToolFailure("filename must have a supported image, video, or audio extension")
        token = uuid.uuid4().hex
        self._uploads[token] = filename
        return {
            "upload_url": f"/wangp_api/gallery/upload/{token}",
            "method": "PUT",
            "filename": filename,
            "expires_in_seconds": 600,
            "max_bytes": 8589934592,
        }, False

    async def _tool_wangp_create_gallery_download(self, args: dict[str, Any]) -> tuple[Any, bool]:
        key = "gallery_id" if self.contract == "v1" else "media_id"
        media_id = str(args.get(key))
        record = self.gallery.get(media_id)
        if record is None:
            raise ToolFailure(f"'Unknown WanGP {key}: {media_id}'")
        path = Path(record["_path"])
        token = uuid.uuid4().hex
        self._downloads[token] = path
        return {
            key: media_id,
            "download_url": f"/wangp_api/gallery/download/{token}",
            "filename": path.name,
            "media_type": record["media_type"],
            "size": path.stat().st_size,
            "expires_in_seconds": 600,
        }, False

    async def _tool_wangp_session(self, args: dict[str, Any]) -> tuple[Any, bool]:
        action, arguments = args.get("action"), dict(args.get("arguments") or {})
        if action == "list_queue":
            running = 1 if self.active is not None and not self.active.done else 0
            return {"total_count": running, "queued_count": 0, "running_count": running, "tasks": []}, False
        handlers = {
            "get_job": self._tool_wangp_get_job,
            "cancel_job": self._tool_wangp_cancel_job,
            "create_gallery_upload": self._tool_wangp_create_gallery_upload,
            "create_gallery_download": self._tool_wangp_create_gallery_download,
        }
        if action not in handlers:
            raise ToolFailure(f"Unknown action: {action}")
        return await handlers[action](arguments)

    # -- the simulated generation ---------------------------------------------------------------------------------
    def _event(self, job: SimJob, kind: str, data: Any) -> None:
        self._last_ts = max(time.time(), self._last_ts + 1e-6)  # strictly increasing, like a real clock mostly is
        job.events.append({"kind": kind, "timestamp": self._last_ts, "data": data})
        job.events = job.events[-500:]
        job.updated_at = self._last_ts

    def _progress(
        self,
        job: SimJob,
        phase: str,
        percent: int,
        step: int | None = None,
        total: int | None = None,
        kind: str = "progress",
    ) -> None:
        data = {
            "phase": phase,
            "status": phase.replace("_", " ").title(),
            "progress": percent,
            "current_step": step,
            "total_steps": total,
            "raw_phase": phase,
            "unit": "steps" if step else None,
        }
        if kind == "preview":
            data = {
                "has_image_preview": True,
                **{k: data[k] for k in ("phase", "status", "progress", "current_step", "total_steps")},
            }
        self._event(job, kind, data)

    def _finish(self, job: SimJob, *, files: list[Path] | None = None, error: dict[str, Any] | None = None) -> None:
        files = files or []
        errors = [error] if error else []
        cancelled = bool(error and error.get("cancelled"))
        items = [self._register(p, "video") for p in files]
        result = {
            "success": not errors,
            "cancelled": cancelled,
            "generated_files": [str(p) if self.share_paths else f"/wangp-remote/outputs/{p.name}" for p in files],
            "errors": errors,
            "total_tasks": 1,
            "successful_tasks": 0 if errors else 1,
            "failed_tasks": 1 if errors else 0,
            "artifacts": [{"path": str(p), "media_type": "video", "client_id": None} for p in files],
        }
        if error:
            self._event(job, "error", error)
        self._event(job, "completed", dict(result))
        job.result = {**result, "gallery_items": items}
        job.done = True
        job.finished.set()

    def _register(self, path: Path, media_type: str) -> dict[str, Any]:
        media_id = "visual:" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        record = {
            "gallery_id": media_id,
            "gallery": "visual",
            "index": len(self.gallery),
            "path": str(path),
            "media_type": media_type,
            "selected": True,
            "in_gallery": True,
            "settings": {},
        }
        self.gallery[media_id] = {**record, "_path": str(path)}
        return self._item(record)

    def _item(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {k: v for k, v in record.items() if not k.startswith("_")}
        if self.contract == "v1":
            if not self.share_paths:
                record["path"] = f"/wangp-remote/outputs/{Path(record['path']).name}"
            return record
        return {
            "media_id": record["gallery_id"],
            "gallery": record["gallery"],
            "media_type": record["media_type"],
            "filename": Path(record["path"]).name,
            "description": "",
            "source": "generation",
            "selected": True,
            "in_gallery": True,
        }

    def _cancelled(self, job: SimJob) -> bool:
        if job.cancel_requested:
            self._progress(job, "cancelled", 0)
            self._finish(
                job,
                error={
                    "message": "Generation was cancelled",
                    "task_index": 1,
                    "task_id": 1,
                    "stage": "cancelled",
                    "cancelled": True,
                },
            )
        return job.cancel_requested

    async def _run_job(self, job: SimJob) -> None:
        settings = job.settings
        model = str(settings.get("model_type"))
        schema = self._schema(model)
        failure = self.failures.pop(0) if self.failures else None
        self._event(job, "stream", {"stream": "stderr", "text": "INFO     Processing request of type CallToolRequest"})
        if schema is None or failure == "runtime":  # v1 creates the job and fails at once (capture 40)
            self._finish(
                job,
                error={
                    "message": "'NoneType' object has no attribute 'get'",
                    "task_index": None,
                    "task_id": None,
                    "stage": "runtime",
                    "cancelled": False,
                },
            )
            return
        name = schema["metadata"].get("name", model)
        self._event(job, "status", f"Loading model {name}...")
        if failure == "download":
            await asyncio.sleep(self.step_delay)
            self._finish(
                job,
                error={"message": HUB_ERROR, "task_index": 1, "task_id": 1, "stage": "generation", "cancelled": False},
            )
            return
        if self.download_delay and model not in self._downloaded_models:
            self._event(job, "status", f"Downloading model {name} weights...")
            deadline = time.monotonic() + self.download_delay
            while time.monotonic() < deadline and not job.cancel_requested:
                self._event(job, "stream", {"stream": "stderr", "text": "Fetching 4 files: 25%"})
                await asyncio.sleep(min(0.05, self.download_delay))
            self._downloaded_models.add(model)
        self._progress(job, "loading_model", 10)
        await asyncio.sleep(self.load_delay)
        if self._cancelled(job):
            return
        self._event(job, "status", "Model loaded")
        self._progress(job, "encoding_text", 18)
        total = max(1, int(settings.get("num_inference_steps") or 30))
        for step in range(1, total + 1):
            await asyncio.sleep(self.step_delay)
            if self._cancelled(job):
                return
            if failure == "oom":
                self._finish(
                    job,
                    error={
                        "message": OOM_ERROR,
                        "task_index": 1,
                        "task_id": 1,
                        "stage": "generation",
                        "cancelled": False,
                    },
                )
                return
            self._progress(job, "inference", 20 + int(70 * step / total), step, total)
            self._event(job, "stream", {"stream": "stdout", "text": f"{step}/{total} denoising"})
            if step % 5 == 0:
                self._progress(job, "inference", 20 + int(70 * step / total), step, total, kind="preview")
        self._progress(job, "decoding", 90)
        files = [await self._write_video(job, schema["metadata"])]
        self._progress(job, "downloading_output", 95)
        self._finish(job, files=files)

    async def _write_video(self, job: SimJob, meta: dict[str, Any]) -> Path:
        from .placeholder import write_placeholder_mp4

        settings = job.settings
        width, height = (int(v) for v in str(settings.get("resolution") or "832x480").lower().split("x"))
        scale = min(1.0, self.placeholder_max_side / max(width, height))
        frames = min(int(settings.get("video_length") or 81), self.placeholder_max_frames)
        seed = settings.get("seed", -1)
        path = self.output_dir / f"{time.strftime('%Y-%m-%d-%Hh%Mm%Ss')}_seed{seed}_{job.job_id[:8]}.mp4"
        text = f"WanGP stand-in {settings.get('model_type')}: {str(settings.get('prompt'))[:40]}"
        await asyncio.to_thread(
            write_placeholder_mp4,
            path,
            text,
            int(width * scale),
            int(height * scale),
            frames,
            int(meta.get("fps") or 16),
        )
        return path


def _fixture_body_initialize() -> dict[str, Any]:
    return load_fixture("wan2gp", "01_initialize.json")["initialize"]["response"]["body"]["result"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genbridge.standins.wan2gp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7866)
    parser.add_argument("--contract", choices=("v1", "v1-late", "v2"), default="v1")
    parser.add_argument("--sync", action="store_true", help="v2 without --mcp-async (wait=false refused)")
    parser.add_argument("--step-delay", type=float, default=0.2, help="seconds per sampling step")
    parser.add_argument("--download-delay", type=float, default=0.0, help="simulate a first-use weight download")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--token", default=None, help="require this bearer token (like 13.x --mcp-auth)")
    parser.add_argument("--hide-paths", action="store_true", help="report server paths this machine cannot read")
    args = parser.parse_args(argv)
    server = Wan2GPStandIn(
        contract=args.contract,
        async_generate=not args.sync,
        output_dir=args.output_dir,
        step_delay=args.step_delay,
        download_delay=args.download_delay,
        share_paths=not args.hide_paths,
        token=args.token,
    )

    async def serve() -> None:
        url = await server.start(args.host, args.port)
        print(f"WanGP stand-in ({args.contract}) at {url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
