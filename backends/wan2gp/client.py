"""The WanGP backend: WanGP's MCP server driven job by job, one generation at a time per server. Loop thread only.

Flow per job: `validate` (the model exists; `workflows.wan2gp_rules` turns the inputs into settings within the
model's limits and records every change on the job) -> `submit` (joins this server's client-side line; returns a
local id) -> `events` (waits its turn, uploads the start and end images, sends `wangp_generate` without a blocking wait,
polls the job with a small event window and backoff) -> `fetch_outputs` (the server's own file when it shares
this disk and lies in its declared output folder, else a download ticket). The client only speaks the protocol:
model rules live in `workflows/`, error mapping in `errors.py`, transport in `mcp_http.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import (
    Cancelled,
    GenBridgeError,
    RejectedInput,
    ServerError,
    ServiceTimeout,
    Unreachable,
    error_from_exception,
)
from ...runtime.events import BackendEvent, BackendLog, BackendProgress
from ...runtime.jobs import Job, JobErrorInfo
from ...runtime.settings import Endpoint, Settings
from ...workflows import wan2gp_rules, wan2gp_templates
from . import errors, profiles
from .contract import Contract, detect_contract
from .errors import ToolError
from .models import JobSnapshot, ModelSchema
from .progress import ProgressTracker
from .queue import ServerQueue
from .rpc import McpRpc
from .runs import Run as _Run
from .runs import adopt_server_id, poll_until_done, server_running_count
from .shared_files import declared_folder_from_item, declared_folder_from_upload, open_shared_output
from .transfer import copy_shared, download_media, upload_file

log = logging.getLogger("genbridge.wan2gp")

LOCAL_ID_PREFIX = "local:"
EVENT_LIMIT = 50  # stream lines flood the ring; 50 keeps the latest progress in the window
CANCEL_PHASE = "Cancelling: WanGP finishes its current step"


class Wan2GPClient:
    """A BackendClient for one WanGP MCP endpoint (contract v1, late v1 or v2, detected on first use)."""

    service = "wan2gp"
    poll_interval = (0.5, 2.0)  # seconds: first poll, backoff ceiling
    cancel_wait_s = 60.0  # the one cancel deadline: WanGP stops at its next step (~20 s on a slow machine)
    cancel_phase = CANCEL_PHASE
    drain_wait_s = 1800.0  # how long a cancelled job may keep the server slot while the server winds it down

    def __init__(self, endpoint: Endpoint, settings: Settings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.rpc = McpRpc(endpoint, settings)
        self.queue = ServerQueue()
        self._contract: Contract | None = None
        self._server_info: dict[str, Any] = {}
        self._schemas: dict[str, ModelSchema | None] = {}
        self._defaults: dict[str, dict[str, Any]] = {}
        self._models: list[str] | None = None
        self._runs: dict[str, _Run] = {}
        self._drains: set[asyncio.Task[None]] = set()
        self._declared_folders: set[str] = set()  # output folders the server named in its upload receipts

    # -- discovery ------------------------------------------------------------------------------------------------
    async def contract(self) -> Contract:
        """The server's contract, detected once from tools/list."""
        if self._contract is None:
            self._contract = detect_contract(await self.rpc.list_tools(), self.endpoint.url)
        return self._contract

    async def model_schema(self, model_type: str) -> ModelSchema | None:
        """The model's limits, or None when the server does not know the model (cached)."""
        if model_type not in self._schemas:
            tool, args = (await self.contract()).model_schema(model_type)
            try:
                value = await self.rpc.call_tool(tool, args)
            except ToolError as exc:
                if "unknown model" not in exc.text.lower() and "model_type" not in exc.text.lower():
                    raise
                value = None
            meta = value.get("metadata", value) if isinstance(value, dict) else None
            self._schemas[model_type] = (
                ModelSchema.model_validate({"model_type": model_type, **meta}) if isinstance(meta, dict) else None
            )
        return self._schemas[model_type]

    async def model_defaults(self, model_type: str) -> dict[str, Any]:
        if model_type not in self._defaults:
            tool, args = (await self.contract()).model_defaults(model_type)
            value = await self.rpc.call_tool(tool, args)
            self._defaults[model_type] = dict(value) if isinstance(value, dict) else {}
        return self._defaults[model_type]

    async def model_types(self) -> list[str]:
        """Every video model type the server offers (paged once, then cached)."""
        if self._models is None:
            contract = await self.contract()
            found: list[str] = []
            offset, cursor = 0, None
            for _page in range(100):  # bounded: 144 models are 15 pages of 10 on v1
                tool, args = contract.list_models(offset, cursor)
                value = await self.rpc.call_tool(tool, args)
                records = value.get("models", []) if isinstance(value, dict) else value or []
                found += [str(r["model_type"]) for r in records if isinstance(r, dict) and "model_type" in r]
                offset += len(records)
                cursor = value.get("next_cursor") if isinstance(value, dict) else None
                more = value.get("has_more") if isinstance(value, dict) else len(records) == args.get("limit")
                if not records or not more or (contract.version == "v2" and not cursor):
                    break
            self._models = found
        return self._models

    # -- BackendClient -------------------------------------------------------------------------------------------
    async def probe(self) -> ProbeResult:
        """Contract, models, line length and the memory the configured profile needs; never raises."""
        started = time.monotonic()
        base: dict[str, Any] = {
            "service": self.service,
            "url": self.endpoint.url,
            "label": self.endpoint.name,
            "checked_at": time.time(),
        }
        try:
            self._server_info = await self.rpc.initialize()
            self._contract = None  # the server may have been restarted with another contract
            contract = await self.contract()
            latency = (time.monotonic() - started) * 1000
            models = await self.model_types()
            running_elsewhere = await server_running_count(self.rpc, contract)
        except GenBridgeError as exc:
            return ProbeResult(**base, reachable=False, error=JobErrorInfo(**exc.to_dict()))
        except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
            err = error_from_exception(exc, service="wan2gp")
            return ProbeResult(**base, reachable=False, error=JobErrorInfo(**err.to_dict()))
        needs = profiles.memory_needs(self.settings.wan2gp_profile)
        info = self._server_info.get("serverInfo", {})
        return ProbeResult(
            **base,
            reachable=True,
            version=f"WanGP {contract.label}; mcp {info.get('version', '?')}",
            latency_ms=latency,
            queue_depth=self.queue.depth + running_elsewhere,
            models={"video": models},
            capabilities={
                "contract": contract.version,
                "async_generate": contract.async_generate,
                "memory_profile": needs["profile"],
                "memory_profile_name": needs["profile_name"],
                "vram_needed_gb": needs["vram_gb"],
                "ram_needed_gb": needs["ram_gb"],
                "local_queue": {"running": self.queue.holder is not None, "waiting": len(self.queue.waiting)},
                "device_info": "not reported by WanGP over MCP",
            },
        )

    async def validate(self, job: Job) -> list[Problem]:
        """Check the job against the server's model before anything is sent; every change is recorded on the job."""
        inputs, template_changes, problem = wan2gp_templates.wan2gp_inputs(job.template, job.inputs, job.chosen)
        if problem is not None:
            return [problem]
        if not job.template:
            inputs, template_changes = wan2gp_templates.task_default_inputs(job.task, inputs)
        model = str(inputs.get("model") or "").strip()
        if not model:
            return [
                Problem(
                    field="model",
                    message="no WanGP model type was given",
                    fix={"model": "t2v"},
                    hint="Set model to a WanGP model type such as t2v or i2v_2_2.",
                )
            ]
        schema = await self.model_schema(model)
        if schema is None:
            return [await self._unknown_model(model)]
        limits = schema.limits()
        prepared = wan2gp_rules.prepare(inputs, limits, await self.model_defaults(model), job.chosen)
        image_problems, images = wan2gp_rules.image_inputs(inputs, limits)
        problems = prepared.problems + image_problems
        if not problems:
            job.inputs.update(prepared.input_updates)
            changes = template_changes + prepared.changes
            job.adjustments += [c for c in changes if c not in job.adjustments]
            self._runs[job.id] = _Run(job.id, settings=prepared.settings, images=images, notes=changes)
        return problems

    async def submit(self, job: Job) -> str:
        """Join this server's line; the generation is sent when the job's turn comes (in `events`)."""
        if job.id not in self._runs:
            problems = await self.validate(job)
            if problems:
                raise RejectedInput("; ".join(f"{p.field}: {p.message}" for p in problems) + ".", service="wan2gp")
        return LOCAL_ID_PREFIX + job.id

    async def reattach(self, job: Job) -> None:
        """Follow a job sent before a restart by its WanGP job id; fail clearly if the server never had it or lost it.

        WanGP keeps jobs only in memory (protocol §8): after a server restart `get_job` answers "Unknown WanGP
        job_id". A `local:` id means Blender closed while the job still waited in GenBridge's own line.
        """
        server_id = job.remote_ids.get(self.endpoint.url) or next(iter(job.remote_ids.values()), "")
        if not server_id or server_id.startswith(LOCAL_ID_PREFIX):
            raise GenBridgeError(
                "Blender closed before WanGP started this job, so it never ran; generate again.",
                "Press Retry in the job list to send it with the same inputs.",
                service="wan2gp",
            )
        contract = await self.contract()
        try:
            snapshot = JobSnapshot.model_validate(await self.rpc.call_tool(*contract.get_job(server_id, EVENT_LIMIT)))
        except ToolError as exc:
            if exc.unknown_job:
                raise ServerError(
                    "WanGP was restarted and lost this job; generate again.",
                    "Press Retry in the job list to send it again with the same inputs and seed.",
                    service="wan2gp",
                ) from None
            raise errors.from_tool(exc, self.endpoint, server_id) from None
        self._runs[job.id] = _Run(job.id, server_id=server_id, snapshot=snapshot)
        if self.queue.holder is None and not snapshot.done:
            self.queue.holder = job.id  # the server is busy with it: new jobs wait their turn behind it

    def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        return self._events(job)

    async def _events(self, job: Job) -> AsyncIterator[BackendEvent]:
        run = self._runs.get(job.id)
        if run is None:
            raise GenBridgeError("WanGP lost track of this job before it started.", "Generate again.", service="wan2gp")
        if run.cancelled_locally:
            raise Cancelled("The job was cancelled before it reached WanGP.", service="wan2gp")
        for note in run.notes:
            yield BackendLog(message=f"Changed: {note}")
        if run.server_id is None:  # a re-attached job is already on the server: it does not queue again
            async for ahead in self.queue.turns(job.id):
                yield BackendProgress(
                    fraction=0.0,
                    running=False,
                    phase=f"Waiting for WanGP: {ahead} job{'s' if ahead != 1 else ''} ahead",
                )
        try:
            async for event in self._run_on_server(job, run):
                yield event
        finally:
            self._after_run(run)

    async def _run_on_server(self, job: Job, run: _Run) -> AsyncIterator[BackendEvent]:
        contract = await self.contract()
        snapshot: JobSnapshot | None = run.snapshot if run.server_id else None  # re-attached: already started
        if run.images and snapshot is None:
            for key, setting, _flag in wan2gp_rules.IMAGE_INPUTS:
                if key not in run.images:
                    continue
                which = key.removesuffix("_image")
                yield BackendProgress(fraction=0.0, phase=f"Uploading the {which} image", running=False)
                receipt = await upload_file(self.rpc, contract, Path(run.images[key]))
                if folder := declared_folder_from_upload(receipt.path):
                    self._declared_folders.add(folder)
                run.settings[setting] = receipt.id
            run.settings["image_prompt_type"] = wan2gp_rules.image_prompt_type(run.images)
        delay = self.poll_interval[0]
        while snapshot is None:
            if not await server_running_count(self.rpc, contract):
                run.submitting = asyncio.ensure_future(
                    self.rpc.call_tool(*contract.generate(run.settings, EVENT_LIMIT))
                )
                try:
                    snapshot = JobSnapshot.model_validate(await asyncio.shield(run.submitting))
                    break
                except ToolError as exc:
                    if not exc.busy:
                        raise errors.from_tool(exc, self.endpoint) from None
            # Someone else (the WanGP UI, another client) is generating: wait politely.
            yield BackendProgress(fraction=0.0, running=False, phase="WanGP is busy with another generation; waiting")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.poll_interval[1])
        run.server_id = snapshot.job_id
        job.remote_ids[self.endpoint.url] = snapshot.job_id
        run.snapshot = snapshot
        yield BackendProgress(fraction=0.01, phase="Started on WanGP")
        tracker = ProgressTracker(start=0.01)
        for event in tracker.feed(snapshot.events):
            yield event
        async for event in self._poll(run, contract, tracker):
            yield event
        assert run.snapshot is not None
        run.done.set()
        if not run.snapshot.succeeded:
            raise errors.from_snapshot(run.snapshot, self.endpoint)

    async def _poll(self, run: _Run, contract: Contract, tracker: ProgressTracker) -> AsyncIterator[BackendEvent]:
        """Poll until the server says done; a dropped poll is retried (and said so), not a failed job."""
        assert run.server_id is not None and run.snapshot is not None
        delay, failures, failing_since = self.poll_interval[0], 0, 0.0
        retries = max(3, int(self.settings.timeouts.silence / self.poll_interval[1]))
        while not run.snapshot.done:
            await asyncio.sleep(delay)
            try:
                snapshot = JobSnapshot.model_validate(
                    await self.rpc.call_tool(*contract.get_job(run.server_id, EVENT_LIMIT))
                )
            except (Unreachable, ServerError, ServiceTimeout) as exc:
                if isinstance(exc, ToolError) and exc.unknown_job:
                    raise errors.from_tool(exc, self.endpoint, run.server_id) from None
                failures += 1
                failing_since = failing_since or time.monotonic()
                if failures > retries or time.monotonic() - failing_since > self.settings.timeouts.silence:
                    raise errors.tag(exc, self.endpoint, run.server_id) from None
                phase = f"Lost contact with WanGP, retrying ({failures}/{retries})"
                yield BackendProgress(fraction=tracker.fraction, phase=phase)
                delay = self.poll_interval[1]
                continue
            if failures:
                failures, failing_since = 0, 0.0
                yield BackendProgress(fraction=tracker.fraction, phase=tracker.phase or "Running on WanGP")
            run.snapshot = snapshot
            new_events = list(tracker.feed(snapshot.events))
            for event in new_events:
                yield event
            delay = self.poll_interval[0] if new_events else min(delay * 1.5, self.poll_interval[1])

    def _after_run(self, run: _Run) -> None:
        """Give the slot back once the server is done; a job cut short keeps it until the server confirms."""
        pending = run.submitting is not None and not run.submitting.done()
        if (run.server_id is None and not pending) or run.done.is_set():
            self.queue.release(run.job_id)
            return
        task = asyncio.get_running_loop().create_task(self._drain(run), name=f"wan2gp-drain-{run.job_id}")
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, run: _Run) -> None:
        try:
            deadline = time.monotonic() + self.drain_wait_s
            await poll_until_done(self.rpc, await self.contract(), run, deadline, self.poll_interval)
        except GenBridgeError as exc:
            log.info("job %s: stopped waiting for WanGP to finish: %s", run.job_id, exc.message)
        finally:
            self.queue.release(run.job_id)

    async def cancel(self, job: Job) -> None:
        """A waiting job leaves the line (the server never hears of it); a running one is cancelled on the server
        and polled until the server confirms, all within the one deadline `cancel_wait_s`."""
        run = self._runs.get(job.id)
        if self.queue.remove(job.id) or run is None or self.queue.holder != job.id:
            if run is not None:
                run.cancelled_locally = True  # never started: events() will not send it
            return
        deadline = time.monotonic() + self.cancel_wait_s
        await adopt_server_id(run, deadline)
        if run.server_id is None or run.done.is_set():
            return
        if not run.cancel_sent:
            run.cancel_sent = True
            try:
                await self.rpc.call_tool(*(await self.contract()).cancel_job(run.server_id))
            except ToolError as exc:
                if exc.unknown_job:
                    return  # the server no longer has it: nothing left to stop
                raise errors.from_tool(exc, self.endpoint, run.server_id) from None
        await poll_until_done(self.rpc, await self.contract(), run, deadline, self.poll_interval)
        if not run.done.is_set():
            raise errors.tag(
                ServiceTimeout(
                    f"WanGP did not finish its current step within {self.cancel_wait_s:.0f} s of the cancel.",
                    "It stops at its next checkpoint; the server stays busy until then.",
                    service="wan2gp",
                ),
                self.endpoint,
                run.server_id,
            )

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Copy the server's own files when it shares this disk, else download them by ticket."""
        run = self._runs.get(job.id)
        result = run.snapshot.result if run and run.snapshot else None
        if result is None:
            raise ServerError("WanGP reported no result for this job.", service="wan2gp")
        contract = await self.contract()
        dest.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        taken: set[str] = set()  # two outputs with the same server name must not overwrite each other
        files, items = result.generated_files, result.gallery_items
        for index in range(max(len(files), len(items))):
            item = items[index] if index < len(items) else {}
            media_id = item.get(contract.media_key) or item.get("media_id") or item.get("gallery_id")
            shared = None
            if index < len(files):
                declared = set(self._declared_folders)
                if folder := declared_folder_from_item(item, files[index]):
                    declared.add(folder)
                shared = open_shared_output(self.rpc.url, files[index], sorted(declared))
            if shared is not None:
                written.append(await copy_shared(self.rpc, shared[0], shared[1], dest, taken))
            elif media_id:
                written.append(await download_media(self.rpc, contract, str(media_id), dest, taken))
        if not written:
            raise ServerError("WanGP finished the job but reported no output file.", service="wan2gp")
        self._runs.pop(job.id, None)
        return written

    async def close(self) -> None:
        for task in list(self._drains):
            task.cancel()
        await self.rpc.close()

    # -- helpers --------------------------------------------------------------------------------------------------
    async def _unknown_model(self, model: str) -> Problem:
        try:
            known = await self.model_types()
        except GenBridgeError:
            known = []
        return wan2gp_rules.unknown_model_problem(model, known)

    @staticmethod
    def _raise_for_result(snapshot: JobSnapshot) -> None:
        """Nothing for a success; else the job's cancel or its first real error, as a GenBridgeError."""
        if not snapshot.succeeded:
            raise errors.from_snapshot(snapshot)
