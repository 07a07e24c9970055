"""ComfyUIClient: the BackendClient of one ComfyUI server (0.3.45 to 0.38), over HTTP and one shared websocket.

Loop thread only. Per job: the graph from `workflows.comfyui_graph` -> its local images uploaded -> POST /prompt
with our prompt id and client id -> socket messages (after any break, resync through the jobs API, or /history
and /queue on older servers) -> `executing{node:null}` = finished -> outputs (/view downloads, socket images).
Protocol only; every error is mapped in `errors.py` and carries this endpoint and the prompt id.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import GenBridgeError, ServerError, ServiceTimeout, Unreachable
from ...runtime.events import BackendEvent, BackendLog, BackendProgress
from ...runtime.jobs import Job, JobErrorInfo
from ...runtime.paths import unique_output_paths
from ...runtime.settings import Endpoint, Settings
from . import errors, status
from .download import download
from .models import (
    OutputFile,
    PromptAccepted,
    PromptRejected,
    SystemStats,
    output_files,
    prompt_id_for,
    version_tuple,
)
from .socket import FATAL, RESYNC, ComfySocket
from .tracking import Track, apply_message
from .transport import ComfyHTTP
from .upload import upload_image

MIN_VERSION = (0, 3, 45)  # first release that accepts a client-assigned prompt_id
CACHE_HIT = "ComfyUI reused its cached results: these are the files of an earlier run with the same inputs."
MODEL_FOLDERS = ("checkpoints", "diffusion_models", "loras", "vae", "text_encoders", "upscale_models")
DYNAMIC_CLASSES = frozenset({"SaveVideo"})  # core nodes whose inputs differ by version (0.38 dynamic combos)
_OBJECT_INFO: dict[str, dict[str, Any]] = {}  # per server URL: fetched once, it is large (~500 KB)


class ComfyUIClient:
    """One ComfyUI server: probe, submit, events, cancel, outputs, free memory. Shared by all its jobs."""

    service = "comfyui"

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.http = ComfyHTTP(endpoint, settings)
        self.base = self.http.base
        self.client_id = uuid.uuid4().hex
        self.jobs_api = False  # ComfyUI 0.36+: GET/POST /api/jobs...
        self._socket: ComfySocket | None = None
        self._stats: SystemStats | None = None
        self._features: dict[str, Any] = {}
        self._tracks: dict[str, Track] = {}
        self.clock = time.perf_counter  # injectable for tests
        self._data_path = settings.data_path

    @contextlib.contextmanager
    def _located(self, prompt_id: str = "") -> Iterator[None]:
        """Every error leaving a public method names this endpoint and the prompt."""
        try:
            yield
        except GenBridgeError as exc:
            errors.locate(exc, self.base, prompt_id)
            raise

    def _ws(self) -> ComfySocket:
        if self._socket is None:
            ws_base = "ws" + self.base[4:] if self.base.startswith("http") else self.base
            self._socket = ComfySocket(
                f"{ws_base}{self.http.prefix}/ws?clientId={self.client_id}",
                connect_timeout=self.settings.timeouts.connect,
                watchdog_s=min(1.0, self.settings.timeouts.silence),
                headers=self.http.auth_headers,
                allow_online=self.settings.allow_online,
            )
        return self._socket

    async def _ensure_server(self) -> SystemStats:
        """/system_stats once per client: detects the /api prefix and the jobs API, refuses servers too old."""
        if self._stats is not None:
            return self._stats
        code, body = await self.http.request("GET", "/system_stats")
        if code == 404:
            self.http.prefix = "/api"
            code, body = await self.http.request("GET", "/system_stats")
        if code != 200 or not isinstance(body, dict):
            raise errors.not_comfyui(endpoint=self.base, path="/system_stats", what=f"HTTP {code}")
        stats = SystemStats.model_validate(body)
        version = stats.system.comfyui_version
        if version and version_tuple(version) < MIN_VERSION:
            raise errors.too_old(version, endpoint=self.base)
        code, features = await self.http.request("GET", "/features")
        self._features = features if code == 200 and isinstance(features, dict) else {}
        self.jobs_api = await status.has_jobs_api(self.http)
        self._stats = stats
        return stats

    # ---- probe -----------------------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """Version, device, VRAM, queue depth, models and node classes; never raises for an unreachable server."""
        try:
            with self._located():
                self._stats = None
                stats = await self._ensure_server()
                latency = await self.measure_latency()
                q = await status.queue(self.http)
                info = await self.object_info()
                models: dict[str, list[str]] = {}
                for folder in MODEL_FOLDERS:
                    code, names = await self.http.request("GET", f"/models/{folder}")
                    if code == 200 and isinstance(names, list):
                        models[folder] = [str(n) for n in names]
        except GenBridgeError as exc:
            error = JobErrorInfo(**exc.to_dict())
            return ProbeResult(
                service="comfyui", url=self.endpoint.url, label=self.endpoint.name, reachable=False, error=error
            )
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
                "api_prefix": self.http.prefix,
                "jobs_api": self.jobs_api,
                "cpu_only": bool(dev and dev.type == "cpu"),
                "max_upload_size": self._features.get("max_upload_size"),
            },
            checked_at=time.time(),
        )

    async def measure_latency(self, tries: int = 3) -> float:
        """Milliseconds for one `GET /system_stats` on the warm session: the request alone, best of `tries`
        (the best one is the one least delayed by other work on the loop)."""
        best = float("inf")
        for _ in range(tries):
            started = self.clock()
            await self.http.request("GET", "/system_stats")
            best = min(best, (self.clock() - started) * 1000)
        return best

    async def object_info(self) -> dict[str, Any]:
        """All node classes (V1 and V3 schemas), fetched once per server URL."""
        cached = _OBJECT_INFO.get(self.base)
        if cached is None:
            _, body = await self.http.request("GET", "/object_info")
            cached = body if isinstance(body, dict) else {}
            _OBJECT_INFO[self.base] = cached
        return cached

    # ---- validate and submit ---------------------------------------------------------------------------------

    async def validate(self, job: Job) -> list[Problem]:
        from ...workflows.comfyui_graph import job_problems

        return job_problems(job)

    async def _graph(self, job: Job) -> dict[str, Any]:
        """The job's graph with every local image uploaded and the server's names written in."""
        from ...workflows import api as wf
        from ...workflows.comfyui_graph import adapt_to_server, prepare_graph
        from .references import checked_reference_graph

        graph = prepare_graph(job.task, job.template, job.inputs, self.settings)
        graph, note = await checked_reference_graph(self, job, graph)  # cast keyframes: model there, or fall back
        if note:
            job.adjustments.append(note)
        names: dict[str, str] = {}
        by_path: dict[str, str] = {}
        for node_id, upload in wf.image_uploads(graph).items():
            if upload.local_path not in by_path:
                by_path[upload.local_path] = await upload_image(
                    self.http, Path(upload.local_path), max_bytes=self._features.get("max_upload_size")
                )
            names[node_id] = by_path[upload.local_path]
        if names:  # (a copy: the only other job of apply_uploaded_names is removing markers, and there are none)
            graph = wf.apply_uploaded_names(graph, names)
        if any(isinstance(n, dict) and n.get("class_type") in DYNAMIC_CLASSES for n in graph.values()):
            adapt_to_server(graph, await self.object_info())
        return graph

    async def submit(self, job: Job) -> str:
        pid = prompt_id_for(job.id)
        with self._located(pid):
            await self._ensure_server()
            graph = await self._graph(job)
            track = self._tracks[pid] = Track.new(pid, graph)
            socket = self._ws()
            socket.subscribe(pid)
            try:
                await socket.ensure_started()  # the socket must be open before POST /prompt, or we miss messages
                body = {"prompt": graph, "client_id": self.client_id, "prompt_id": pid}
                code, reply = await self.http.request("POST", "/prompt", json=body)
                if code == 400:
                    raise errors.rejection(reply, graph, endpoint=self.base, prompt_id=pid)
                if code != 200 or not isinstance(reply, dict):
                    raise errors.unexpected_status(code, "the workflow", endpoint=self.base)
                accepted = PromptAccepted.model_validate(reply)
                if accepted.node_errors:
                    rejected = PromptRejected.model_validate({"node_errors": accepted.node_errors})
                    track.logs.append(
                        "ComfyUI runs only part of the workflow; skipped: "
                        + "; ".join(errors.node_messages(rejected, graph))
                    )
            except BaseException:
                self._forget(pid)
                raise
            socket.arm_watchdog()
            return pid

    def _forget(self, prompt_id: str) -> None:
        self._tracks.pop(prompt_id, None)
        if self._socket is not None:
            self._socket.unsubscribe(prompt_id)

    # ---- re-attach after a restart ---------------------------------------------------------------------------

    async def reattach(self, job: Job) -> None:
        """Follow a prompt sent before a restart: subscribe, then make sure ComfyUI still has it."""
        pid = prompt_id_for(job.id)
        with self._located(pid):
            await self._ensure_server()
            workflow = job.inputs.get("workflow")
            graph = dict(workflow) if isinstance(workflow, dict) else {}  # phases and progress, if we have it
            track = self._tracks[pid] = Track.new(pid, graph, polled=True)
            socket = self._ws()
            socket.subscribe(pid)  # before asking, so no message between the answer and events() is lost
            try:
                await socket.ensure_started()
                where = await status.locate(self.http, pid, graph, jobs_api=self.jobs_api)
                if where.state == status.LOST:
                    raise errors.lost(endpoint=self.base, prompt_id=pid, reattaching=True)
            except BaseException:
                self._forget(pid)
                raise
            track.logs.append(f"ComfyUI at {self.base} still has this job; following it.")
            socket.subscribe(pid).put_nowait(RESYNC)  # events() starts from where the server says it is

    def remote_id_for(self, job: Job) -> str:
        """The prompt id this job will have: we assign it, so it is journaled before POST /prompt."""
        return prompt_id_for(job.id)

    async def has_job(self, prompt_id: str) -> bool:
        """Whether ComfyUI knows this prompt (queued, running or finished): asked after a send was cut off."""
        with self._located(prompt_id):
            await self._ensure_server()
            where = await status.locate(self.http, prompt_id, {}, jobs_api=self.jobs_api)
            return where.state != status.LOST

    # ---- events ----------------------------------------------------------------------------------------------

    async def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Progress and previews until `executing{node:null}`; raises on error, interrupt or a lost job."""
        pid = prompt_id_for(job.id)
        with self._located(pid):
            track = self._tracks.get(pid)
            if track is None:  # re-attached after a restart: graph unknown, progress is coarse
                track = self._tracks[pid] = Track.new(pid, {}, polled=True)
                self._ws().subscribe(pid)
                await self._ws().ensure_started()
                self._ws().subscribe(pid).put_nowait(RESYNC)
            async for event in self._follow(track):
                yield event
            if track.fully_cached:
                job.cached = True
                yield BackendLog(message=f"{CACHE_HIT} {errors.CACHE_HINT}")
            yield BackendProgress(fraction=track.progress.fraction, phase="Finished in ComfyUI")

    async def _follow(self, track: Track) -> AsyncIterator[BackendEvent]:
        queue = self._ws().subscribe(track.prompt_id)
        for line in track.logs:
            yield BackendLog(message=line)
        silence = self.settings.timeouts.silence
        poll = min(1.0 if track.polled else 2.0, silence / 2)
        last_news = time.monotonic()
        unreachable_since: float | None = None
        shown: tuple[float, str, bool] | None = None
        while True:
            try:
                if queue.empty():
                    # Not `wait_for`: on 3.11 it swallows a cancel that races with a message (and costs a task).
                    async with asyncio.timeout(poll):
                        kind, data = await queue.get()
                else:
                    kind, data = queue.get_nowait()
            except TimeoutError:
                kind, data = RESYNC
                if not track.polled and self._ws().connected and time.monotonic() - last_news < silence:
                    continue
            if kind == FATAL:
                raise data
            if kind == "resync":
                track.resynced = True
                try:
                    where = await status.locate(self.http, track.prompt_id, track.graph, jobs_api=self.jobs_api)
                    unreachable_since = None
                    last_news = time.monotonic()
                except (Unreachable, ServiceTimeout) as exc:
                    unreachable_since = unreachable_since or time.monotonic()
                    if time.monotonic() - unreachable_since > silence:
                        raise errors.lost_contact(exc.message, endpoint=self.base, prompt_id=track.prompt_id) from None
                    continue
                if where.state == status.LOST:
                    raise errors.lost(endpoint=self.base, prompt_id=track.prompt_id)
                if where.state == status.FINISHED:
                    track.finish(where.outputs, where.cached, where.error)
                    return
                running = where.state == status.RUNNING
                phase = "Running in ComfyUI" if running else "Waiting in ComfyUI's queue"
                yield BackendProgress(fraction=track.progress.fraction, phase=phase, running=running)
                continue
            last_news = time.monotonic()
            event = apply_message(track, kind, data, endpoint=self.base, data_path=self._data_path)
            key = (event.fraction, event.phase, event.running) if isinstance(event, BackendProgress) else None
            if event is not None and (key is None or key != shown):  # progress_state re-sends change nothing
                shown = key
                yield event
            if kind == "executing" and data.get("node") is None:
                return

    # ---- outputs ---------------------------------------------------------------------------------------------

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Stream every output file into `dest`, and move in the images the socket delivered."""
        pid = prompt_id_for(job.id)
        track = self._tracks.get(pid) or Track.new(pid, {})
        try:
            with self._located(pid):
                files = await self._final_files(track)
                if track.fully_cached and not files and not track.ws_files:
                    raise errors.cache_hit_without_outputs(endpoint=self.base, prompt_id=pid)
                # Check every name first, so an unsafe one means nothing at all is written; distinct local names
                # too, so two outputs with the same server name never overwrite each other.
                names = [(f.local_subfolder, f.filename) for f in files] + [("", p.name) for p in track.ws_files]
                targets = unique_output_paths(dest, names)
                planned = list(zip(files, targets[: len(files)], strict=True))
                moved = list(zip(track.ws_files, targets[len(files) :], strict=True))
                written = []
                for f, target in planned:
                    written.append(await self._download(f, target, cached=track.fully_cached))
                for staged, target in moved:
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        written.append(Path(shutil.move(staged, target)))
                    except OSError as exc:
                        raise errors.local_write(target, exc) from None
                return written
        finally:
            self._forget(pid)

    async def _final_files(self, track: Track) -> list[OutputFile]:
        """Outputs from the server's record of the finished prompt (history race: retry briefly), else the socket's.

        A job the socket followed from start to success without a break already has every `executed` output
        (cached output nodes re-send theirs): asking the server again would only cost a request per job."""
        if track.succeeded and not track.resynced:
            return output_files(track.outputs)
        for _ in range(5):
            where = await status.locate(self.http, track.prompt_id, track.graph, jobs_api=self.jobs_api)
            if where.state == status.FINISHED:
                track.finish(where.outputs, where.cached, where.error)
                return output_files(where.outputs)
            if where.state == status.LOST:
                break  # history trimmed or server restarted: what the socket reported is all we have
            await asyncio.sleep(0.05)
        return output_files(track.outputs)

    async def _download(self, f: OutputFile, target: Path, *, cached: bool) -> Path:
        params = {"filename": f.filename, "subfolder": f.subfolder, "type": f.type}
        try:
            return await download(
                self.http,
                params,
                target,
                limit_bytes=self.settings.download_limit_mb * 1024 * 1024,
                deadline_s=self.settings.timeouts.download,
            )
        except ServerError as exc:
            if cached:  # the earlier run's file is gone (deleted, or a temp file after a restart)
                exc.hint = errors.CACHE_HINT
            raise

    # ---- cancel, memory, close -------------------------------------------------------------------------------

    async def cancel(self, job: Job) -> None:
        """Dequeue or interrupt our prompt (never someone else's); wait (bounded) until the server let it go."""
        pid = prompt_id_for(job.id)
        with self._located(pid):
            await self._ensure_server()
            await status.cancel(self.http, pid, jobs_api=self.jobs_api, wait_s=self.settings.timeouts.request)

    async def withdraw(self, job: Job) -> bool:
        """Take back our prompt if the server has not started it (the router moves it to a faster server)."""
        with self._located(prompt_id_for(job.id)):
            return await status.withdraw(self.http, prompt_id_for(job.id))

    async def free_memory(self, unload_models: bool = True, free_memory: bool = True) -> None:
        """POST /free: unload models and/or free memory (also resets ComfyUI's node cache)."""
        with self._located():
            body = {"unload_models": unload_models, "free_memory": free_memory}
            await self.http.request("POST", "/free", json=body)

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None
        await self.http.close()
