"""ComfyUIClient: the BackendClient of one ComfyUI server (0.3.45+), over HTTP (aiohttp) and one shared websocket.

Flow per job: upload images -> POST /prompt with our prompt id and client id -> messages from the shared socket
(resync from /queue and /history after any break) -> `executing{node:null}` = finished -> /history -> /view.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import (
    AuthError,
    Cancelled,
    GenBridgeError,
    IncompatibleServer,
    OutOfMemory,
    RejectedInput,
    ServerError,
    ServiceTimeout,
    Unreachable,
)
from ...runtime.events import BackendEvent, BackendLog, BackendPreview, BackendProgress
from ...runtime.jobs import Job, JobErrorInfo
from ...runtime.netpolicy import ensure_allowed
from ...runtime.paths import unique_output_paths
from ...runtime.settings import Endpoint, Settings
from .download import download
from .models import HistoryEntry, OutputFile, PromptAccepted, PromptRejected, QueueState, SystemStats
from .progress import ProgressTracker
from .socket import RESYNC, ComfySocket
from .upload import upload_image

MIN_VERSION = (0, 3, 45)  # first release that accepts a client-assigned prompt_id
CACHE_HIT = "ComfyUI reused cached results: the inputs did not change. Use a new seed (-1) for a new image."
LOST_AFTER_RESTART = "ComfyUI was restarted and lost this job; generate again."
MODEL_FOLDERS = ("checkpoints", "diffusion_models", "loras", "vae", "text_encoders", "upscale_models")
_OBJECT_INFO: dict[str, dict[str, Any]] = {}  # per server URL: fetched once, it is large (~500 KB)


@dataclass
class _Track:
    """What the client knows about one of its jobs on the server."""

    graph: dict[str, Any]
    progress: ProgressTracker
    outputs: dict[str, Any] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    logs: list[str] = field(default_factory=list)
    cache_hit: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    # Re-attached after a restart: ComfyUI sends its messages to the old socket's client id, so poll instead.
    polled: bool = False


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class ComfyUIClient:
    """One ComfyUI server: probe, submit, events, cancel, outputs, free memory. Shared by all its jobs."""

    service = "comfyui"

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.base = endpoint.url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.prefix = ""  # "/api" when only the prefixed routes answer (some proxies)
        self._session: aiohttp.ClientSession | None = None
        self._socket: ComfySocket | None = None
        self._stats: SystemStats | None = None
        self._features: dict[str, Any] = {}
        self._tracks: dict[str, _Track] = {}
        t = settings.timeouts
        self._timeout = aiohttp.ClientTimeout(total=t.request, connect=t.connect, sock_connect=t.connect)
        self._dl_timeout = aiohttp.ClientTimeout(total=t.download, connect=t.connect, sock_read=t.request)

    # ---- plumbing --------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def _http(self) -> aiohttp.ClientSession:
        ensure_allowed(self.base, self.settings.allow_online, service="ComfyUI")
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.endpoint.api_key}"} if self.endpoint.api_key else None
            # aiohttp sends no Origin header by default: ComfyUI answers 403 to a mismatched one.
            self._session = aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=16))
        return self._session

    def _ws(self) -> ComfySocket:
        if self._socket is None:
            ws_base = "ws" + self.base[4:] if self.base.startswith("http") else self.base
            self._socket = ComfySocket(
                f"{ws_base}{self.prefix}/ws?clientId={self.client_id}",
                connect_timeout=self.settings.timeouts.connect,
                watchdog_s=min(1.0, self.settings.timeouts.silence),
            )
        return self._socket

    async def _request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> tuple[int, Any]:
        """One HTTP call; transport failures and 5xx become GenBridgeErrors; returns (status, parsed JSON or None)."""
        session = self._http()
        try:
            async with session.request(method, self._url(path), json=json, params=params, timeout=self._timeout) as r:
                status, ctype, text = r.status, r.content_type, await r.text()
        except aiohttp.ClientConnectorError:
            raise Unreachable(f"Could not connect to ComfyUI at {self.base}.", service="comfyui") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError) as exc:
            raise Unreachable(
                f"ComfyUI at {self.base} dropped the connection ({type(exc).__name__}).", service="comfyui"
            ) from None
        except TimeoutError:
            raise ServiceTimeout(
                f"ComfyUI at {self.base} accepted the connection but did not answer {path} within "
                f"{self.settings.timeouts.request:g} s.",
                service="comfyui",
            ) from None
        if status in (502, 503, 504):
            what = "a proxy in front of ComfyUI" if "html" in ctype else "ComfyUI"
            raise Unreachable(
                f"{what[0].upper()}{what[1:]} answered HTTP {status} at {self.base}: ComfyUI is not responding.",
                "Start ComfyUI (or check the proxy's upstream address), then try again.",
                service="comfyui",
                detail=text[:300],
            )
        if status == 401:
            raise AuthError(f"ComfyUI at {self.base} asked for credentials.", service="comfyui")
        if status == 403:
            raise ServerError(
                f"ComfyUI at {self.base} refused the request (HTTP 403).",
                "If ComfyUI runs behind a proxy, make sure the proxy does not add a mismatched Origin header.",
                service="comfyui",
            )
        if status >= 500:
            raise ServerError(f"ComfyUI failed on {path} (HTTP {status}): {text.strip()[:200]}", service="comfyui")
        if not text.strip():
            return status, None  # the "just act" POSTs answer 200 with an empty body
        if "json" not in ctype:
            if status == 404:
                return status, None
            raise IncompatibleServer(
                f"{self.base}{path} did not answer like ComfyUI (got {ctype}).",
                "Check that the URL points at ComfyUI.",
                service="comfyui",
                detail=text[:300],
            )
        import json as _json

        try:
            return status, _json.loads(text)
        except ValueError:
            raise IncompatibleServer(f"ComfyUI sent unreadable JSON for {path}.", service="comfyui") from None

    async def _ensure_server(self) -> SystemStats:
        """/system_stats once per client: detects the /api prefix and refuses servers too old for our ids."""
        if self._stats is not None:
            return self._stats
        status, body = await self._request("GET", "/system_stats")
        if status == 404:
            self.prefix = "/api"
            status, body = await self._request("GET", "/system_stats")
        if status != 200 or not isinstance(body, dict):
            raise IncompatibleServer(f"{self.base} does not look like ComfyUI (no /system_stats).", service="comfyui")
        stats = SystemStats.model_validate(body)
        version = stats.system.comfyui_version
        if version and _version_tuple(version) < MIN_VERSION:
            raise IncompatibleServer(
                f"ComfyUI {version} at {self.base} is too old: GenBridge needs 0.3.45 or newer "
                "(client-assigned prompt ids).",
                "Update ComfyUI (git pull, or the ComfyUI Manager's 'Update ComfyUI').",
                service="comfyui",
            )
        self._stats = stats
        status, features = await self._request("GET", "/features")
        self._features = features if status == 200 and isinstance(features, dict) else {}
        return stats

    # ---- probe -----------------------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """Version, device, VRAM, queue depth, models and node classes; never raises for an unreachable server."""
        started = time.monotonic()
        try:
            self._stats = None
            stats = await self._ensure_server()
            latency = (time.monotonic() - started) * 1000
            _, queue = await self._request("GET", "/queue")
            q = QueueState.model_validate(queue or {})
            info = await self.object_info()
            models: dict[str, list[str]] = {}
            for folder in MODEL_FOLDERS:
                status, names = await self._request("GET", f"/models/{folder}")
                if status == 200 and isinstance(names, list):
                    models[folder] = [str(n) for n in names]
            dev = stats.devices[0] if stats.devices else None
            gb = 1024**3
            return ProbeResult(
                service="comfyui",
                url=self.endpoint.url,
                label=self.endpoint.name,
                reachable=True,
                version=stats.system.comfyui_version,
                latency_ms=latency,
                device=(dev.type if dev else "") or "",
                vram_free_gb=dev.vram_free / gb if dev else None,
                vram_total_gb=dev.vram_total / gb if dev else None,
                queue_depth=len(q.queue_running) + len(q.queue_pending),
                models=models,
                capabilities={
                    "node_classes": len(info),
                    "features": self._features,
                    "api_prefix": self.prefix,
                    "cpu_only": bool(dev and dev.type == "cpu"),
                    "max_upload_size": self._features.get("max_upload_size"),
                },
                checked_at=time.time(),
            )
        except GenBridgeError as exc:
            return ProbeResult(
                service="comfyui",
                url=self.endpoint.url,
                label=self.endpoint.name,
                reachable=False,
                error=JobErrorInfo(**exc.to_dict()),
                checked_at=time.time(),
            )

    async def object_info(self) -> dict[str, Any]:
        """All node classes (V1 and V3 schemas), fetched once per server URL."""
        cached = _OBJECT_INFO.get(self.base)
        if cached is None:
            _, body = await self._request("GET", "/object_info")
            cached = body if isinstance(body, dict) else {}
            _OBJECT_INFO[self.base] = cached
        return cached

    # ---- validate and submit ---------------------------------------------------------------------------------

    async def validate(self, job: Job) -> list[Problem]:
        problems = []
        if not isinstance(job.inputs.get("workflow"), dict) and not job.template and not job.task:
            problems.append(
                Problem(
                    field="workflow",
                    message="No ComfyUI workflow or template was given",
                    hint="Pick a template or load an API-format workflow.",
                )
            )
        for key, path in (job.inputs.get("images") or {}).items():
            if not Path(str(path)).is_file():
                problems.append(
                    Problem(
                        field=f"images.{key}",
                        message=f"The image {path} does not exist",
                        hint="Pick an existing image file.",
                    )
                )
        return problems

    async def _build_graph(self, job: Job, uploaded: dict[str, str]) -> dict[str, Any]:
        workflow = job.inputs.get("workflow")
        if isinstance(workflow, dict):
            graph = copy.deepcopy(workflow)
            for key, name in uploaded.items():
                targets = [
                    nid for nid, node in graph.items() if nid == key or (node.get("_meta") or {}).get("title") == key
                ]
                if not targets:
                    raise RejectedInput(
                        f"The workflow has no LoadImage node '{key}' for the input image.",
                        "Use the LoadImage node's id or title as the image key.",
                        service="comfyui",
                    )
                for nid in targets:
                    graph[nid].setdefault("inputs", {})["image"] = name
            return graph
        from ...workflows import resolve_workflow  # type: ignore[attr-defined]

        params = {k: v for k, v in job.inputs.items() if k != "images"}
        params.update(uploaded)
        return resolve_workflow(task=job.task, template=job.template, params=params)

    async def submit(self, job: Job) -> str:
        await self._ensure_server()
        uploaded: dict[str, str] = {}
        for key, path in (job.inputs.get("images") or {}).items():
            uploaded[key] = await upload_image(
                self._http(),
                self._url("/upload/image"),
                Path(str(path)),
                max_bytes=self._features.get("max_upload_size"),
                timeout=self._dl_timeout,
            )
        graph = await self._build_graph(job, uploaded)
        track = _Track(graph=graph, progress=ProgressTracker(graph))
        socket = self._ws()
        self._tracks[job.id] = track
        socket.subscribe(job.id)
        try:
            await socket.ensure_started()  # the socket must be open before POST /prompt, or we miss messages
            body = {"prompt": graph, "client_id": self.client_id, "prompt_id": job.id}
            status, reply = await self._request("POST", "/prompt", json=body)
            if status == 400:
                raise self._rejection(reply, graph)
            if status != 200 or not isinstance(reply, dict):
                raise ServerError(f"ComfyUI answered HTTP {status} to the workflow.", service="comfyui")
            accepted = PromptAccepted.model_validate(reply)
            if accepted.node_errors:
                rejected = PromptRejected.model_validate({"node_errors": accepted.node_errors})
                track.logs.append(
                    "ComfyUI runs only part of the workflow; skipped: "
                    + "; ".join(self._node_messages(rejected, graph))
                )
        except BaseException:
            self._forget(job.id)
            raise
        socket.arm_watchdog()
        return job.id

    def _node_messages(self, rejected: PromptRejected, graph: dict[str, Any]) -> list[str]:
        out = []
        for nid, err in rejected.node_errors.items():
            node = graph.get(nid) or {}
            title = (node.get("_meta") or {}).get("title") or err.class_type or node.get("class_type", "")
            reasons = ", ".join(
                f"{e.extra_info.get('input_name') or e.details or 'input'}: {e.message}"
                + (f" ({e.details})" if e.details and e.details != e.extra_info.get("input_name") else "")
                for e in err.errors
            )
            out.append(f"node {nid} '{title}' ({err.class_type or node.get('class_type', '?')}): {reasons}")
        return out

    def _rejection(self, reply: Any, graph: dict[str, Any]) -> RejectedInput:
        rejected = PromptRejected.model_validate(reply if isinstance(reply, dict) else {})
        lines = self._node_messages(rejected, graph)
        if not lines:
            err = rejected.error
            lines = [f"{err.message}{' (' + err.details + ')' if err.details else ''}"]
        missing = [n for n in lines if "does not exist" in n]
        if missing:
            return RejectedInput(
                "ComfyUI lacks a node the workflow uses: " + "; ".join(missing),
                "Install the missing custom nodes (ComfyUI Manager), then try again.",
                service="comfyui",
            )
        return RejectedInput(
            "ComfyUI rejected the workflow: " + "; ".join(lines) + ".",
            "Fix the named node inputs and generate again.",
            service="comfyui",
        )

    def _forget(self, prompt_id: str) -> None:
        self._tracks.pop(prompt_id, None)
        if self._socket is not None:
            self._socket.unsubscribe(prompt_id)

    # ---- re-attach after a restart ---------------------------------------------------------------------------

    async def reattach(self, job: Job) -> None:
        """Follow a job sent before a restart (prompt id = job id): subscribe, then make sure ComfyUI still has it.

        A prompt id missing from /queue with `{}` history means ComfyUI restarted and dropped it (§4.7).
        """
        await self._ensure_server()
        workflow = job.inputs.get("workflow")
        graph = copy.deepcopy(workflow) if isinstance(workflow, dict) else {}  # phases and progress, if we have it
        track = self._tracks[job.id] = _Track(graph=graph, progress=ProgressTracker(graph), polled=True)
        socket = self._ws()
        socket.subscribe(job.id)  # before asking, so no message between the answer and events() is lost
        try:
            await socket.ensure_started()
            if not await self._still_known(job.id):
                raise ServerError(
                    LOST_AFTER_RESTART,
                    "Press Retry in the job list to send it again with the same inputs and seed.",
                    service="comfyui",
                )
        except BaseException:
            self._forget(job.id)
            raise
        track.logs.append(f"ComfyUI at {self.base} still has this job; following it.")
        socket.subscribe(job.id).put_nowait(RESYNC)  # events() starts from /history and /queue

    def remote_id_for(self, job: Job) -> str:
        """The prompt id this job will have: we assign it (the job id), so it is journaled before POST /prompt."""
        return job.id

    async def has_job(self, prompt_id: str) -> bool:
        """Whether ComfyUI knows this prompt (queued, running or finished): asked after a send was cut off."""
        await self._ensure_server()
        return await self._still_known(prompt_id)

    async def _still_known(self, prompt_id: str) -> bool:
        if await self._history(prompt_id) is not None:
            return True
        _, body = await self._request("GET", "/queue")
        q = QueueState.model_validate(body or {})
        if prompt_id in q.running_ids() or prompt_id in q.pending_ids():
            return True
        await asyncio.sleep(0.2)  # finished just now: history is written a moment after execution_success
        return await self._history(prompt_id) is not None

    # ---- events ----------------------------------------------------------------------------------------------

    async def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Progress and previews until `executing{node:null}`; raises on error, interrupt or a lost job."""
        track = self._tracks.get(job.id)
        if track is None:  # re-attached after a restart: graph unknown, progress is coarse
            track = self._tracks[job.id] = _Track(graph={}, progress=ProgressTracker({}), polled=True)
            self._ws().subscribe(job.id)
            await self._ws().ensure_started()
            self._ws().subscribe(job.id).put_nowait(RESYNC)
        queue = self._ws().subscribe(job.id)
        for line in track.logs:
            yield BackendLog(message=line)
        silence = self.settings.timeouts.silence
        poll = min(1.0 if track.polled else 2.0, silence / 2)
        last_news = time.monotonic()
        unreachable_since: float | None = None
        while True:
            try:
                kind, data = await asyncio.wait_for(queue.get(), poll)
            except TimeoutError:
                kind, data = RESYNC
                if not track.polled and self._ws().connected and time.monotonic() - last_news < silence:
                    continue
            if kind == "resync":
                try:
                    finished = await self._resync(job, track)
                    unreachable_since = None
                    last_news = time.monotonic()
                except (Unreachable, ServiceTimeout) as exc:
                    unreachable_since = unreachable_since or time.monotonic()
                    if time.monotonic() - unreachable_since > silence:
                        raise Unreachable(
                            f"Lost contact with ComfyUI at {self.base} while it was running this job ({exc.message})",
                            "Start ComfyUI again; outputs it already wrote stay in its output folder.",
                            service="comfyui",
                        ) from None
                    continue
                if finished:
                    break
                yield BackendProgress(
                    fraction=track.progress.fraction,
                    phase="Running in ComfyUI" if finished is None else "Waiting in ComfyUI's queue",
                    running=finished is None,
                )
                continue
            last_news = time.monotonic()
            event = self._apply(job, track, kind, data)
            if event is not None:
                yield event
            if kind == "executing" and data.get("node") is None:
                break
        if self._is_cache_hit(track):
            track.cache_hit = True
            yield BackendLog(message=CACHE_HIT)
        yield BackendProgress(fraction=track.progress.fraction, phase="Finished in ComfyUI")

    def _apply(self, job: Job, track: _Track, kind: str, data: Any) -> BackendEvent | None:
        p = track.progress
        if kind == "execution_start":
            return BackendProgress(fraction=p.fraction, phase="Started in ComfyUI")
        if kind == "execution_cached":
            track.cached.update(str(n) for n in data.get("nodes") or [])
            p.cached(list(track.cached))
            return BackendProgress(fraction=p.fraction, phase="Started in ComfyUI")
        if kind == "progress_state":
            p.node_state(data.get("nodes") or {})
            return BackendProgress(fraction=p.fraction, phase=self._phase(track, p.current))
        if kind == "progress":
            node = str(data.get("node"))
            p.step(node, float(data.get("value") or 0), float(data.get("max") or 0))
            return BackendProgress(
                fraction=p.fraction, phase=f"{self._phase(track, node)}: step {data.get('value')}/{data.get('max')}"
            )
        if kind == "executing" and data.get("node") is not None:
            p.current = str(data["node"])
            return BackendProgress(fraction=p.fraction, phase=self._phase(track, p.current))
        if kind == "executed":
            track.outputs[str(data.get("node"))] = data.get("output") or {}
            return None
        if kind == "preview":
            fmt, image = data
            folder = self.settings.data_path / "previews"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{job.id}.{fmt}"
            path.write_bytes(image)
            return BackendPreview(path=str(path))
        if kind == "execution_error":
            raise self._execution_error(data, track)
        if kind == "execution_interrupted":
            raise Cancelled("ComfyUI stopped the job (interrupted).", service="comfyui")
        return None

    def _phase(self, track: _Track, node: str | None) -> str:
        if not node:
            return "Running in ComfyUI"
        n = track.graph.get(node) or {}
        title = (n.get("_meta") or {}).get("title") or n.get("class_type") or f"node {node}"
        return f"Running {title}"

    def _execution_error(self, data: dict[str, Any], track: _Track) -> GenBridgeError:
        node = str(data.get("node_id", "?"))
        title = ((track.graph.get(node) or {}).get("_meta") or {}).get("title") or data.get("node_type", "")
        text = str(data.get("exception_message", "")).strip()
        kind = str(data.get("exception_type", ""))
        message = f"ComfyUI failed in node {node} '{title}' ({data.get('node_type', '?')}): {text}"
        if "OutOfMemory" in kind or "out of memory" in text.lower():
            return OutOfMemory(message, service="comfyui", detail=kind)
        return ServerError(message, service="comfyui", detail=kind)

    def _is_cache_hit(self, track: _Track) -> bool:
        return bool(track.outputs) and set(track.outputs) <= track.cached

    async def _resync(self, job: Job, track: _Track) -> bool | None:
        """Ask /history and /queue where the job is. True = finished; False = queued; None = running.

        Raises the job's error if it failed, and ServerError if the server no longer knows it (restarted).
        """
        entry = await self._history(job.id)
        if entry is not None:
            await self._finish_from_history(entry, track)
            return True
        _, body = await self._request("GET", "/queue")
        q = QueueState.model_validate(body or {})
        if job.id in q.running_ids():
            return None
        if job.id in q.pending_ids():
            return False
        await asyncio.sleep(0.2)  # history is written just after execution_success: give the race a moment
        entry = await self._history(job.id)
        if entry is not None:
            await self._finish_from_history(entry, track)
            return True
        raise ServerError(
            f"ComfyUI at {self.base} no longer knows this job; it was probably restarted.",
            "Generate again. Outputs it already wrote stay in ComfyUI's output folder.",
            service="comfyui",
        )

    async def _finish_from_history(self, entry: HistoryEntry, track: _Track) -> None:
        cached = entry.message("execution_cached")
        if cached:
            track.cached.update(str(n) for n in cached.get("nodes") or [])
        track.outputs.update(entry.outputs)
        if entry.status.status_str == "error":
            last = entry.status.messages[-1] if entry.status.messages else ["", {}]
            if last[0] == "execution_interrupted":
                raise Cancelled("ComfyUI stopped the job (interrupted).", service="comfyui")
            raise self._execution_error(last[1] if isinstance(last[1], dict) else {}, track)

    async def _history(self, prompt_id: str) -> HistoryEntry | None:
        """The finished job's entry, or None: `200 {}` means unknown or not finished, never failed."""
        status, body = await self._request("GET", f"/history/{prompt_id}")
        if status != 200 or not isinstance(body, dict) or prompt_id not in body:
            return None
        return HistoryEntry.model_validate(body[prompt_id])

    # ---- outputs ---------------------------------------------------------------------------------------------

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Stream every output file into `dest`; refuses cache hits (old files) and unsafe server names."""
        track = self._tracks.get(job.id) or _Track(graph={}, progress=ProgressTracker({}))
        try:
            entry = None
            for _ in range(10):  # {} right after completion is the history race; retry briefly
                entry = await self._history(job.id)
                if entry is not None:
                    break
                await asyncio.sleep(0.05)
            if entry is not None:
                await self._finish_from_history(entry, track)
                files = entry.files()
            else:
                files = HistoryEntry(outputs=track.outputs).files()
            if track.cache_hit or self._is_cache_hit(track):
                raise RejectedInput(
                    "ComfyUI reused cached results: the inputs did not change.",
                    "Use a new seed (-1) for a new image.",
                    service="comfyui",
                )
            dest.mkdir(parents=True, exist_ok=True)
            # Check every name first, so an unsafe one means nothing at all is written.
            # Distinct local names too: two outputs with the same server name must not overwrite each other.
            targets = unique_output_paths(dest, [(self._local_subfolder(f), f.filename) for f in files])
            planned = list(zip(files, targets, strict=True))
            limit = self.settings.download_limit_mb * 1024 * 1024
            written = []
            for f, target in planned:
                params = {"filename": f.filename, "subfolder": f.subfolder, "type": f.type}
                written.append(
                    await download(
                        self._http(), self._url("/view"), params, target, limit_bytes=limit, timeout=self._dl_timeout
                    )
                )
            return written
        finally:
            self._forget(job.id)

    @staticmethod
    def _local_subfolder(f: OutputFile) -> str:
        # temp and output files may share names: keep previews apart
        return f"temp/{f.subfolder}" if f.type == "temp" else f.subfolder

    # ---- cancel, memory, close -------------------------------------------------------------------------------

    async def cancel(self, job: Job) -> None:
        """Delete a queued job; interrupt a running one only if it is ours; wait (bounded) for the server."""
        _, body = await self._request("GET", "/queue")
        q = QueueState.model_validate(body or {})
        if job.id in q.pending_ids():
            await self._request("POST", "/queue", json={"delete": [job.id]})
        elif job.id in q.running_ids():
            await self._request("POST", "/interrupt", json={"prompt_id": job.id})
        else:
            return
        deadline = time.monotonic() + self.settings.timeouts.request
        while time.monotonic() < deadline:
            _, body = await self._request("GET", "/queue")
            q = QueueState.model_validate(body or {})
            if job.id not in q.running_ids() and job.id not in q.pending_ids():
                return
            await asyncio.sleep(0.1)

    async def free_memory(self, unload_models: bool = True, free_memory: bool = True) -> None:
        """POST /free: unload models and/or free memory (also resets ComfyUI's node cache)."""
        await self._request("POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory})

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None
