"""ComfyAPIv2Client: the BackendClient of one Comfy API v2 endpoint (Comfy Cloud, or comfy-api-proxy 0.1.6).

Loop thread only. Flow per job: prepare the graph exactly as for native ComfyUI (`workflows.comfyui_graph`) ->
upload its local images as assets (skipped when `HEAD /assets/by-hash/{blake3}` knows the bytes) and write
`core/ASSET` references in -> `POST /jobs` (the server names the job; the id is journaled at once) -> live
progress and previews from the SSE stream `GET /jobs/{id}/events`, with `GET /jobs/{id}` as the source of truth
(polled instead while the server answers `429 too_many_streams`, until its Retry-After has passed, or when the
stream breaks) -> outputs streamed from `GET /assets/{id}/content`. The partner-node key rides only in the
`POST /jobs` body (`extra_data.api_key_comfy_org`): never in the job, the journal or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError

from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import (
    GenBridgeError,
    RateLimited,
    RejectedInput,
    ReplyTooLarge,
    ServerError,
    ServiceTimeout,
    Unreachable,
)
from ...runtime.events import BackendEvent, BackendLog, BackendProgress
from ...runtime.jobs import Job, JobErrorInfo
from ...runtime.netpolicy import redact_url
from ...runtime.paths import unique_output_paths
from ...runtime.settings import Endpoint, Settings
from ..http import decode_json, read_capped
from . import assets, errors
from .models import V2Job
from .progress import Track, progress_event, stream_event
from .sse import V2EventParser
from .transport import V2HTTP, retry_after_s

CACHE_HIT = "ComfyUI reused its cached results: these are the files of an earlier run with the same inputs."
LABEL_PREFIX = "genbridge:"  # + our job id: the `metadata` label every job is sent with
EXPIRED_CHECKS = 4  # "expired" is re-read this many times (0.7 s in all) before the job counts as lost
NO_HASH = "blake3:" + "0" * 64  # a blob no one has: probing with it checks the key without touching the upstream


class ComfyAPIv2Client:
    """One Comfy API v2 endpoint: probe, submit, events, cancel, outputs. Shared by all its jobs."""

    service = "comfyui"

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.http = V2HTTP(endpoint, settings)
        self.base = self.http.base
        self._tracks: dict[str, Track] = {}
        self._aliases: dict[str, str] = {}  # label journaled before a send cut off by a crash -> the server's id
        self.clock: Callable[[], float] = time.monotonic  # injectable for tests
        self.poll_s = 1.0  # GET /jobs/{id} interval while there is no stream
        self.stream_check_s = 2.0  # a stream quiet this long: check the job's state

    @property
    def where(self) -> str:
        return f"Comfy API v2 at {redact_url(self.base)}"

    @contextlib.contextmanager
    def _located(self, job_id: str = "") -> Iterator[None]:
        """Every error leaving a public method names this endpoint and the remote job."""
        try:
            yield
        except GenBridgeError as exc:
            errors.locate(exc, self.base, job_id)
            raise

    def _remote_id(self, job: Job) -> str:
        remote = job.remote_ids.get(self.endpoint.url) or next(iter(job.remote_ids.values()), "")
        return self._aliases.get(remote, remote)

    # ---- a send cut off by a crash: the server names jobs, so ours carry a label to find them by -------------

    def remote_id_for(self, job: Job) -> str:
        """What is journaled before `POST /jobs`: the label the job is sent with (`metadata`), since the server
        picks the job's id itself. After a crash mid-send `has_job` looks the label up."""
        return f"{LABEL_PREFIX}{job.id}"

    async def has_job(self, planned: str) -> bool:
        """Whether the server received the job journaled as `planned` (a label, or a server id)."""
        with self._located(planned):
            if planned.startswith(LABEL_PREFIX):
                return await self._find_labelled(planned) is not None
            try:
                await self._state(planned)
            except ServerError:
                return False
            return True

    async def _find_labelled(self, label: str) -> str | None:
        """The id of the newest job sent with `label` (`GET /jobs` lists the newest 100), remembered as an alias."""
        if label in self._aliases:
            return self._aliases[label]
        _, body = await self.http.request("GET", "/jobs?limit=100")
        jobs = body.get("jobs") if isinstance(body, dict) else None
        for item in jobs if isinstance(jobs, list) else ():
            if isinstance(item, dict) and item.get("metadata") == label and isinstance(item.get("id"), str):
                self._aliases[label] = item["id"]
                return item["id"]
        return None

    # ---- probe -----------------------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """`GET /health` (unauthenticated on the proxy), then one cheap authenticated call so a wrong key shows
        here rather than at the first job; never raises."""
        try:
            with self._located():
                started = self.clock()
                _, health = await self.http.request("GET", "/health")
                latency = (self.clock() - started) * 1000
                state = health.get("status") if isinstance(health, dict) else None
                if state not in (None, "healthy", "ok"):
                    raise Unreachable(f"{self.where} reports it is {str(state)[:40]}.", service=errors.SERVICE)
                await self.http.request("HEAD", f"/assets/by-hash/{NO_HASH}", ok=(200, 404))
        except GenBridgeError as exc:
            return ProbeResult(
                service="comfyui",
                url=self.endpoint.url,
                label=self.endpoint.name,
                reachable=False,
                error=JobErrorInfo(**exc.to_dict()),
            )
        return ProbeResult(
            service="comfyui",
            url=self.endpoint.url,
            label=self.endpoint.name,
            reachable=True,
            version="Comfy API v2",
            latency_ms=latency,
            capabilities={"api": "v2", "kind": "api_v2", "preflight": False, "preflight_note": _preflight_note()},
            checked_at=time.time(),
        )

    # ---- validate and submit ---------------------------------------------------------------------------------

    async def validate(self, job: Job) -> list[Problem]:
        """What can be checked here without node or model information (the v2 surface offers none)."""
        from ...workflows.comfyui_graph import job_problems

        return job_problems(job)

    async def preflight(self, workflow: dict[str, Any]) -> list[Problem]:
        """Node and model checks against the server: not offered by the Comfy API v2 (see `PREFLIGHT_UNAVAILABLE`)."""
        return []

    async def _graph(self, job: Job, logs: list[str]) -> dict[str, Any]:
        """The job's graph with every local image uploaded (or found by hash) and referenced as a v2 asset."""
        from ...workflows import api as wf
        from ...workflows.comfyui_graph import prepare_graph

        graph = prepare_graph(job.task, job.template, job.inputs, self.settings)
        refs: dict[str, Any] = {}
        by_path: dict[str, Any] = {}
        for node_id, upload in wf.image_uploads(graph).items():
            if upload.local_path not in by_path:
                ref, skipped = await assets.upload(
                    self.http, Path(upload.local_path), deadline_s=self.settings.timeouts.download
                )
                by_path[upload.local_path] = ref
                if skipped:
                    logs.append(f"{Path(upload.local_path).name}: {self.where} already has these bytes; not uploaded.")
            refs[node_id] = by_path[upload.local_path]
        return wf.apply_uploaded_names(graph, refs)

    async def submit(self, job: Job) -> str:
        with self._located():
            logs = [_preflight_note()]
            graph = await self._graph(job, logs)
            body: dict[str, Any] = {"workflow": graph, "metadata": self.remote_id_for(job)}
            partner_key = self.endpoint.comfy_org_key
            if partner_key:
                body["extra_data"] = {"api_key_comfy_org": partner_key}  # this request only; never kept
            _, reply = await self.http.request("POST", "/jobs", json=body)
            accepted = self._job_record(reply)
            self._tracks[accepted.id] = Track(accepted.id, graph, logs)
            return accepted.id

    def _job_record(self, body: Any) -> V2Job:
        try:
            return V2Job.model_validate(body if isinstance(body, dict) else {})
        except ValidationError:
            raise ServerError(
                f"{self.where} sent a job record GenBridge cannot read.",
                "Check that the URL points at a Comfy API v2 server (Comfy Cloud or comfy-api-proxy).",
                service=errors.SERVICE,
            ) from None

    async def _state(self, job_id: str, *, reattaching: bool = False) -> V2Job:
        """`GET /jobs/{id}`: the source of truth for a job's status and outputs."""
        for attempt in range(EXPIRED_CHECKS):
            status, body = await self.http.request(
                "GET", f"/jobs/{quote(job_id, safe='')}", ok=(200, 404), job_id=job_id
            )
            if status == 404:
                raise errors.lost(endpoint=self.base, job_id=job_id, reattaching=reattaching)
            state = self._job_record(body)
            if state.status != "expired":
                return state
            # comfy-api-proxy says "expired" for a job in neither ComfyUI's queue nor its history: also true for a
            # moment between a job leaving the queue and its history entry being written. Believe it only twice.
            await asyncio.sleep(0.1 * 2**attempt)
        return state

    # ---- re-attach after a restart ---------------------------------------------------------------------------

    async def reattach(self, job: Job) -> None:
        """Follow a job sent before a restart: make sure the server still has it."""
        job_id = self._remote_id(job)
        with self._located(job_id):
            if job_id.startswith(LABEL_PREFIX):  # cut off while being sent, found by its label since
                job_id = await self._find_labelled(job_id) or ""
                if not job_id:
                    raise errors.lost(endpoint=self.base, job_id=self._remote_id(job), reattaching=True)
            state = await self._state(job_id, reattaching=True)
            workflow = job.inputs.get("workflow")
            track = self._tracks[job_id] = Track(job_id, dict(workflow) if isinstance(workflow, dict) else {})
            track.logs.append(f"{self.where} still has this job ({state.status}); following it.")

    # ---- events ----------------------------------------------------------------------------------------------

    async def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        """Progress and previews until the job is finished on the server; raises on failure, cancel or loss."""
        job_id = self._remote_id(job)
        with self._located(job_id):
            track = self._tracks.get(job_id) or self._tracks.setdefault(job_id, Track(job_id, {}))
            for line in track.logs:
                yield BackendLog(message=line)
            track.logs = []
            stream_at = self.clock()  # when the stream may be tried (again)
            unreachable_since: float | None = None
            while True:
                if self.clock() >= stream_at:
                    try:
                        async for event in self._stream(track):
                            yield event
                        stream_at = self.clock() + self.poll_s  # ended or terminal: the state below decides
                    except RateLimited as exc:
                        wait = exc.retry_after if exc.retry_after is not None else 5.0
                        stream_at = self.clock() + wait
                        yield BackendLog(
                            message=f"{self.where} has too many live streams open; following this job by polling, "
                            f"and trying the stream again in {wait:g} s."
                        )
                    except (Unreachable, ServiceTimeout, ServerError, ReplyTooLarge) as exc:
                        stream_at = self.clock() + self.settings.timeouts.silence / 4
                        yield BackendLog(message=f"The live stream stopped ({exc.message}); polling instead.")
                try:
                    state = await self._state(job_id)
                    unreachable_since = None
                except (Unreachable, ServiceTimeout) as exc:
                    unreachable_since = unreachable_since or self.clock()
                    if self.clock() - unreachable_since > self.settings.timeouts.silence:
                        raise Unreachable(
                            f"Lost contact with {self.where} while it ran this job ({exc.message}).",
                            "Check the server; the job may still finish there.",
                            service=errors.SERVICE,
                        ) from None
                    await asyncio.sleep(self.poll_s)
                    continue
                if state.finished:
                    for event in self._finish(job, track, state):
                        yield event
                    return
                yield progress_event(self.where, track, state.status, state.progress, state.queue_position)
                await asyncio.sleep(self.poll_s)

    def _finish(self, job: Job, track: Track, state: V2Job) -> list[BackendEvent]:
        if state.status == "failed":
            raise errors.job_failed(state.error, track.graph, endpoint=self.base, job_id=track.job_id)
        if state.status == "canceled":
            raise errors.canceled(endpoint=self.base, job_id=track.job_id)
        if state.status == "expired":
            raise errors.lost(endpoint=self.base, job_id=track.job_id)
        track.final = state
        out: list[BackendEvent] = []
        if state.outputs_reused:
            job.cached = True
            out.append(BackendLog(message=CACHE_HIT))
        out.append(BackendProgress(fraction=1.0, phase="Finished on Comfy API v2"))
        return out

    async def _stream(self, track: Track) -> AsyncIterator[BackendEvent]:
        """The SSE stream of one job until its terminal `status` event (or the stream ends). 429 -> RateLimited."""
        path = f"/jobs/{quote(track.job_id, safe='')}/events"
        t = self.settings.timeouts
        # A silent stream ends after `silence` (the server sends a keep-alive every 15 s); the state is polled then.
        timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_read=t.silence)
        parser = V2EventParser(self.http.reply_limit)
        try:
            async with self.http.open(
                "GET", self.http.url(path), headers={"Accept": "text/event-stream"}, timeout=timeout
            ) as r:
                if r.status != 200:
                    raw = await read_capped(r, 64 * 1024, service="Comfy API v2", what="reply")
                    body = None
                    with contextlib.suppress(GenBridgeError):
                        body = decode_json(raw) if "json" in r.content_type and raw.strip() else None
                    raise errors.status_error(
                        r.status,
                        body,
                        endpoint=self.base,
                        path=path,
                        job_id=track.job_id,
                        retry_after=retry_after_s(r.headers),
                    )
                heard = self.clock()
                while True:
                    try:
                        async with asyncio.timeout(self.stream_check_s):
                            chunk = await r.content.readany()
                    except TimeoutError:
                        # A quiet stream: the job may have finished before the server's bridge was listening (the
                        # proxy then only notices at its 15 s heartbeat), so ask the source of truth.
                        if (await self._state(track.job_id)).finished:
                            return
                        if self.clock() - heard > t.silence:
                            raise TimeoutError from None
                        continue
                    if not chunk:
                        return  # the server ended the stream; the state decides what comes next
                    heard = self.clock()
                    for name, data in parser.feed(chunk):
                        event = stream_event(self.where, track, name, data, self.settings.data_path / "previews")
                        if isinstance(event, str):
                            return  # the terminal status: the state decides what comes next
                        if event is not None:
                            yield event
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise errors.transport_error(exc, endpoint=self.base, path=path, timeout_s=t.silence) from None

    # ---- outputs ---------------------------------------------------------------------------------------------

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Stream every output asset into `dest`, under safe, distinct names."""
        job_id = self._remote_id(job)
        track = self._tracks.get(job_id) or Track(job_id, {})
        try:
            with self._located(job_id):
                final = track.final or await self._state(job_id)
                if not final.finished or final.status != "succeeded":
                    for _ in self._finish(job, track, final):
                        pass
                    raise ServerError(f"{self.where} has not finished this job yet.", service=errors.SERVICE)
                if final.outputs_reused and not final.outputs:
                    raise RejectedInput(
                        "ComfyUI reused cached results and produced no files: nothing changed since the last run.",
                        "For a fresh run change an input (for example a new seed, -1).",
                        service=errors.SERVICE,
                    )
                # Every name checked before anything is written, and distinct, so two outputs never overwrite.
                targets = unique_output_paths(dest, [("", o.name) for o in final.outputs])
                written = []
                for output, target in zip(final.outputs, targets, strict=True):
                    written.append(
                        await assets.download(
                            self.http,
                            output.id,
                            output.name,
                            target,
                            limit_bytes=self.settings.download_limit_mb * 1024 * 1024,
                            deadline_s=self.settings.timeouts.download,
                            job_id=job_id,
                        )
                    )
                return written
        finally:
            self._tracks.pop(job_id, None)

    # ---- cancel, close ---------------------------------------------------------------------------------------

    async def cancel(self, job: Job) -> None:
        """`POST /jobs/{id}/cancel` (atomic on the server: dequeue or interrupt); then wait, bounded, until the
        server reports the job finished. Idempotent: an unknown or finished job is left alone."""
        job_id = self._remote_id(job)
        if not job_id:
            return
        with self._located(job_id):
            path = f"/jobs/{quote(job_id, safe='')}"
            status, _ = await self.http.request("POST", f"{path}/cancel", ok=(200, 202, 404, 409), job_id=job_id)
            if status in (404, 409):
                return
            deadline = self.clock() + self.settings.timeouts.request
            while self.clock() < deadline:
                try:
                    state = await self._state(job_id)
                except ServerError:
                    return  # gone
                if state.finished:
                    return
                await asyncio.sleep(min(0.2, self.poll_s))

    async def close(self) -> None:
        await self.http.close()


def _preflight_note() -> str:
    return errors.PREFLIGHT_UNAVAILABLE
