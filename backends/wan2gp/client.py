"""The Wan2GP backend: WanGP's MCP server driven job by job, one generation at a time per server.

Flow per job: `validate` (model exists, resolution WxH in multiples of 16, frames snapped to the model's rule)
-> `submit` (joins this server's client-side line; returns a local id) -> `events` (waits its turn, uploads the
start image, sends `wangp_generate` without a blocking wait, polls the job with a small event window and backoff)
-> `fetch_outputs` (the server's file when it shares this disk, else a download ticket).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...runtime.backend import ProbeResult, Problem
from ...runtime.errors import (
    Cancelled,
    GenBridgeError,
    IncompatibleServer,
    OutOfMemory,
    RejectedInput,
    ServerError,
    Unreachable,
    error_from_exception,
)
from ...runtime.events import BackendEvent, BackendLog, BackendProgress
from ...runtime.jobs import Job, JobErrorInfo
from ...runtime.settings import Endpoint, Settings
from . import profiles
from .contract import Contract, detect_contract
from .models import (
    RESOLUTION_MULTIPLE,
    JobErrorRecord,
    JobEventRecord,
    JobResultRecord,
    JobSnapshot,
    ModelSchema,
    nearest_resolution,
    parse_resolution,
)
from .queue import ServerQueue
from .rpc import McpRpc, ToolError
from .shared_files import declared_folder_from_item, declared_folder_from_upload, open_shared_output
from .transfer import copy_shared, download_media, upload_file

log = logging.getLogger("genbridge.wan2gp")

BUSY_TEXT = "already has a generation in progress"
LOCAL_ID_PREFIX = "local:"
EVENT_LIMIT = 50  # stream lines flood the ring; 50 keeps the latest progress in the window
PHASES = {
    "loading_model": "Loading model",
    "encoding_text": "Encoding the prompt",
    "decoding": "Decoding video",
    "downloading_output": "Saving the video",
    "cancelled": "Cancelling",
}
# Settings keys a user may pass through `inputs["settings"]` besides the model's defaults (docs/SETTINGS.md).
EXTRA_SETTING_KEYS = frozenset(
    {
        "guidance_scale",
        "guidance2_scale",
        "guidance_phases",
        "switch_threshold",
        "flow_shift",
        "sample_solver",
        "force_fps",
        "repeat_generation",
        "activated_loras",
        "loras_multipliers",
        "override_attention",
        "spatial_upsampling",
        "temporal_upsampling",
        "film_grain_intensity",
        "film_grain_saturation",
        "sliding_window_size",
        "sliding_window_overlap",
        "image_prompt_type",
        "video_prompt_type",
    }
)


@dataclass
class _Run:
    """What the client knows about one job between submit and fetch."""

    job_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    start_image: str | None = None
    notes: list[str] = field(default_factory=list)
    server_id: str | None = None
    snapshot: JobSnapshot | None = None
    cancel_sent: bool = False
    cancelled_locally: bool = False
    submitting: asyncio.Future[Any] | None = None  # the generate call, shielded so a cancel cannot lose its job id
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Wan2GPClient:
    """A BackendClient for one WanGP MCP endpoint (contract v1, late v1 or v2, detected on first use)."""

    service = "wan2gp"
    poll_interval = (0.5, 2.0)  # seconds: first poll, backoff ceiling
    cancel_wait_s = 60.0  # how long cancel() polls for the server to confirm
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
            contract = await self.contract()
            tool, args = contract.model_schema(model_type)
            try:
                value = await self.rpc.call_tool(tool, args)
            except ToolError as exc:
                if "unknown model" in exc.text.lower() or "model_type" in exc.text.lower():
                    value = None
                else:
                    raise
            meta = value.get("metadata", value) if isinstance(value, dict) else None
            self._schemas[model_type] = (
                ModelSchema.model_validate({"model_type": model_type, **meta}) if isinstance(meta, dict) else None
            )
        return self._schemas[model_type]

    async def model_defaults(self, model_type: str) -> dict[str, Any]:
        if model_type not in self._defaults:
            contract = await self.contract()
            tool, args = contract.model_defaults(model_type)
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
            running_elsewhere = await self._server_running_count(contract)
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
        """Check the job against the server's model before anything is sent; snaps frames (reported later)."""
        inputs = job.inputs
        problems: list[Problem] = []
        model = str(inputs.get("model") or "").strip()
        if not model:
            return [
                Problem(
                    field="model",
                    message="no Wan2GP model type was given",
                    fix={"model": "t2v"},
                    hint="Set model to a WanGP model type such as t2v or i2v_2_2.",
                )
            ]
        schema = await self.model_schema(model)
        if schema is None:
            return [await self._unknown_model(model)]
        defaults = await self.model_defaults(model)
        if not str(inputs.get("prompt") or "").strip():
            problems.append(Problem(field="prompt", message="the prompt is empty", hint="Describe the video."))
        settings: dict[str, Any] = {**defaults, "model_type": model, "prompt": str(inputs.get("prompt") or "")}
        notes: list[str] = []
        problems += self._check_resolution(inputs, defaults, settings)
        problems += self._check_frames(inputs, schema, settings, notes, job)
        for key, setting in (("steps", "num_inference_steps"), ("seed", "seed")):
            if inputs.get(key) is not None:
                try:
                    settings[setting] = int(inputs[key])
                except (TypeError, ValueError):
                    problems.append(Problem(field=key, message=f"'{inputs[key]}' is not a whole number"))
        if key_ok := inputs.get("negative_prompt"):
            settings["negative_prompt"] = str(key_ok)
        if inputs.get("override_profile") is not None:
            value = inputs["override_profile"]
            if value not in (-1, *profiles.PROFILES):
                problems.append(
                    Problem(
                        field="override_profile",
                        message=f"profile {value} does not exist",
                        hint="Use a WanGP memory profile from 1 to 5.",
                        fix={"override_profile": 4},
                    )
                )
            else:
                settings["override_profile"] = int(value)
        start_image = inputs.get("start_image")
        if start_image:
            if not Path(start_image).is_file():
                problems.append(Problem(field="start_image", message=f"{start_image} does not exist"))
            elif not schema.accepts_start_image:
                problems.append(
                    Problem(
                        field="start_image",
                        message=f"{model} does not take a start image",
                        hint="Use an image-to-video model such as i2v_2_2.",
                    )
                )
        problems += self._check_extra_settings(inputs.get("settings"), defaults, settings)
        if not problems:
            self._runs[job.id] = _Run(job.id, settings=settings, start_image=start_image, notes=notes)
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
                "Blender closed before Wan2GP started this job, so it never ran; generate again.",
                "Press Retry in the job list to send it with the same inputs.",
                service="wan2gp",
            )
        contract = await self.contract()
        tool, args = contract.get_job(server_id, EVENT_LIMIT)
        try:
            snapshot = JobSnapshot.model_validate(await self.rpc.call_tool(tool, args))
        except ToolError as exc:
            if "unknown wangp job_id" in exc.text.lower():
                raise ServerError(
                    "Wan2GP was restarted and lost this job; generate again.",
                    "Press Retry in the job list to send it again with the same inputs and seed.",
                    service="wan2gp",
                ) from None
            raise self._tool_error(exc) from None
        self._runs[job.id] = _Run(job.id, server_id=server_id, snapshot=snapshot)
        if self.queue.holder is None and not snapshot.done:
            self.queue.holder = job.id  # the server is busy with it: new jobs wait their turn behind it

    def events(self, job: Job) -> AsyncIterator[BackendEvent]:
        return self._events(job)

    async def _events(self, job: Job) -> AsyncIterator[BackendEvent]:
        run = self._runs.get(job.id)
        if run is None:
            raise GenBridgeError(
                "Wan2GP lost track of this job before it started.", "Generate again.", service="wan2gp"
            )
        if run.cancelled_locally:
            raise Cancelled("The job was cancelled before it reached Wan2GP.", service="wan2gp")
        for note in run.notes:
            yield BackendLog(message=note)
        if run.server_id is None:  # a re-attached job is already on the server: it does not queue again
            async for ahead in self.queue.turns(job.id):
                yield BackendProgress(
                    fraction=0.0,
                    running=False,
                    phase=f"Waiting for Wan2GP: {ahead} job{'s' if ahead != 1 else ''} ahead",
                )
        try:
            async for event in self._run_on_server(job, run):
                yield event
        finally:
            self._after_run(run)

    async def _run_on_server(self, job: Job, run: _Run) -> AsyncIterator[BackendEvent]:
        contract = await self.contract()
        snapshot: JobSnapshot | None = run.snapshot if run.server_id else None  # re-attached: already started
        if run.start_image and snapshot is None:
            yield BackendProgress(fraction=0.0, phase="Uploading the start image", running=False)
            receipt = await upload_file(self.rpc, contract, Path(run.start_image))
            if folder := declared_folder_from_upload(receipt.path):
                self._declared_folders.add(folder)
            run.settings.update(image_start=receipt.id, image_prompt_type="S")
        delay = self.poll_interval[0]
        while snapshot is None:
            busy_elsewhere = await self._server_running_count(contract)
            if not busy_elsewhere:
                tool, args = contract.generate(run.settings, EVENT_LIMIT)
                run.submitting = asyncio.ensure_future(self.rpc.call_tool(tool, args))
                try:
                    snapshot = JobSnapshot.model_validate(await asyncio.shield(run.submitting))
                    break
                except ToolError as exc:
                    if BUSY_TEXT not in exc.text:
                        raise self._tool_error(exc) from None
            # Someone else (the WanGP UI, another client) is generating: wait politely.
            yield BackendProgress(fraction=0.0, running=False, phase="Wan2GP is busy with another generation; waiting")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.poll_interval[1])
        run.server_id = snapshot.job_id
        job.remote_ids[self.endpoint.url] = snapshot.job_id
        run.snapshot = snapshot
        yield BackendProgress(fraction=0.01, phase="Started on Wan2GP")
        tracker = _ProgressTracker(start=0.01)
        for event in tracker.feed(snapshot.events):
            yield event
        delay = self.poll_interval[0]
        failing_since: float | None = None
        while not snapshot.done:
            await asyncio.sleep(delay)
            tool, args = contract.get_job(run.server_id, EVENT_LIMIT)
            try:
                snapshot = JobSnapshot.model_validate(await self.rpc.call_tool(tool, args))
                failing_since = None
            except (Unreachable, ServerError) as exc:
                # A dropped poll is not a failed job; give up only after a long silence.
                if isinstance(exc, ToolError) and "unknown wangp job_id" in exc.text.lower():
                    raise ServerError(
                        "Wan2GP forgot this job (was it restarted?).", "Generate again.", service="wan2gp"
                    ) from None
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > self.settings.timeouts.silence:
                    raise
                continue
            run.snapshot = snapshot
            new_events = list(tracker.feed(snapshot.events))
            for event in new_events:
                yield event
            delay = self.poll_interval[0] if new_events else min(delay * 1.5, self.poll_interval[1])
        run.done.set()
        self._raise_for_result(snapshot)

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
            await self._poll_until_done(run, self.drain_wait_s)
        except GenBridgeError as exc:
            log.info("job %s: stopped waiting for Wan2GP to finish: %s", run.job_id, exc.message)
        finally:
            self.queue.release(run.job_id)

    async def _adopt_server_id(self, run: _Run, limit_s: float) -> None:
        """Learn the job id of a generate call still in flight when the job was cancelled."""
        if run.server_id is not None or run.submitting is None:
            return
        with contextlib.suppress(GenBridgeError, asyncio.TimeoutError):
            reply = await asyncio.wait_for(asyncio.shield(run.submitting), timeout=limit_s)
            snapshot = JobSnapshot.model_validate(reply)
            run.server_id, run.snapshot = snapshot.job_id, snapshot
            if snapshot.done:
                run.done.set()

    async def _poll_until_done(self, run: _Run, limit_s: float) -> None:
        contract = await self.contract()
        await self._adopt_server_id(run, limit_s)
        if run.server_id is None:
            return
        deadline = time.monotonic() + limit_s
        delay = self.poll_interval[0]
        while not run.done.is_set() and time.monotonic() < deadline:
            assert run.server_id is not None
            tool, args = contract.get_job(run.server_id, 0)
            snapshot = JobSnapshot.model_validate(await self.rpc.call_tool(tool, args))
            run.snapshot = snapshot
            if snapshot.done:
                run.done.set()
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(run.done.wait(), timeout=delay)
            delay = min(delay * 1.5, self.poll_interval[1])

    async def cancel(self, job: Job) -> None:
        """A waiting job leaves the line (the server never hears of it); a running one is cancelled on the server
        and polled until the server confirms (bounded by `cancel_wait_s`)."""
        run = self._runs.get(job.id)
        if self.queue.remove(job.id) or run is None or self.queue.holder != job.id:
            if run is not None:
                run.cancelled_locally = True  # never started: events() will not send it
            return
        await self._adopt_server_id(run, self.cancel_wait_s)
        if run.server_id is None or run.done.is_set():
            return
        contract = await self.contract()
        if not run.cancel_sent:
            tool, args = contract.cancel_job(run.server_id)
            run.cancel_sent = True
            await self.rpc.call_tool(tool, args)
        await self._poll_until_done(run, self.cancel_wait_s)

    async def fetch_outputs(self, job: Job, dest: Path) -> list[Path]:
        """Copy the server's files when it shares this disk, else download them by ticket."""
        run = self._runs.get(job.id)
        result = run.snapshot.result if run and run.snapshot else None
        if result is None:
            raise ServerError("Wan2GP reported no result for this job.", service="wan2gp")
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
            raise ServerError("Wan2GP finished the job but reported no output file.", service="wan2gp")
        self._runs.pop(job.id, None)
        return written

    async def close(self) -> None:
        for task in list(self._drains):
            task.cancel()
        await self.rpc.close()

    # -- helpers --------------------------------------------------------------------------------------------------
    async def _server_running_count(self, contract: Contract) -> int:
        """v2 tells us about generations started elsewhere (UI, other clients); v1 cannot."""
        call = contract.list_queue()
        if call is None:
            return 0
        try:
            value = await self.rpc.call_tool(*call)
        except ToolError:
            return 0
        if not isinstance(value, dict):
            return 0
        return int(value.get("running_count", 0) or 0) + int(value.get("queued_count", 0) or 0)

    async def _unknown_model(self, model: str) -> Problem:
        try:
            known = await self.model_types()
        except GenBridgeError:
            known = []
        similar = difflib.get_close_matches(model, known, n=3, cutoff=0.4) or [
            m for m in ("t2v", "t2v_2_2", "i2v_2_2", "ltx2_22B_distilled") if m in known
        ]
        listing = f"similar: {', '.join(similar)}" if similar else "see the model list in WanGP"
        return Problem(
            field="model",
            message=f"'{model}' is not a model type this Wan2GP server knows ({listing}; "
            f"{len(known)} video models available)",
            hint="Pick one of the listed model types.",
            fix={"model": similar[0]} if similar else None,
        )

    @staticmethod
    def _check_resolution(inputs: dict[str, Any], defaults: dict[str, Any], settings: dict[str, Any]) -> list[Problem]:
        raw = inputs.get("resolution")
        if raw is None and inputs.get("width") is not None and inputs.get("height") is not None:
            raw = f"{inputs['width']}x{inputs['height']}"
        if raw is None:
            return []
        default = str(defaults.get("resolution") or "832x480")
        size = parse_resolution(raw)
        if size is None or min(size) <= 0:
            return [
                Problem(
                    field="resolution",
                    message=f"'{raw}' is not WIDTHxHEIGHT; valid sizes are two "
                    f"multiples of {RESOLUTION_MULTIPLE}, e.g. {default} (this model's default)",
                    fix={"resolution": default},
                )
            ]
        width, height = size
        if width % RESOLUTION_MULTIPLE or height % RESOLUTION_MULTIPLE:
            near = nearest_resolution(width, height)
            return [
                Problem(
                    field="resolution",
                    message=f"{width}x{height} is not valid: width and height must be "
                    f"multiples of {RESOLUTION_MULTIPLE}; the nearest valid size is {near}",
                    fix={"resolution": near},
                )
            ]
        settings["resolution"] = f"{width}x{height}"
        return []

    @staticmethod
    def _check_frames(
        inputs: dict[str, Any], schema: ModelSchema, settings: dict[str, Any], notes: list[str], job: Job
    ) -> list[Problem]:
        raw = inputs.get("frames")
        if raw is None:
            return []
        try:
            frames = int(raw)
        except (TypeError, ValueError):
            return [Problem(field="frames", message=f"'{raw}' is not a whole number", fix={"frames": 81})]
        if frames < 1:
            rule = schema.frame_rule()
            return [Problem(field="frames", message=f"{frames} frames is not a length", fix={"frames": rule.minimum})]
        rule = schema.frame_rule()
        snapped = rule.snap(frames)
        if snapped != frames:
            # A frame count off the model's grid is a silent fix, not an error: the job runs with the snapped
            # value, which is written back to the job and reported to the user.
            notes.append(f"Frames {frames} -> {snapped}: {schema.name or schema.model_type} needs {rule.text} frames.")
            job.inputs["frames"] = snapped
        settings["video_length"] = snapped
        return []

    @staticmethod
    def _check_extra_settings(extra: Any, defaults: dict[str, Any], settings: dict[str, Any]) -> list[Problem]:
        if not extra:
            return []
        if not isinstance(extra, dict):
            return [Problem(field="settings", message="extra settings must be key=value pairs")]
        problems = []
        known = set(defaults) | EXTRA_SETTING_KEYS
        for key, value in extra.items():
            if key not in known:
                similar = difflib.get_close_matches(key, sorted(known), n=3)
                problems.append(
                    Problem(
                        field=f"settings.{key}",
                        message=f"'{key}' is not a setting of this model"
                        + (f" (similar: {', '.join(similar)})" if similar else ""),
                    )
                )
            else:
                settings[key] = value
        return problems

    @staticmethod
    def _tool_error(exc: ToolError) -> GenBridgeError:
        text = exc.text
        lowered = text.lower()
        if "wait=false is unavailable" in lowered:
            return IncompatibleServer(
                "This Wan2GP server only runs jobs synchronously.",
                "Restart WanGP with --mcp-async.",
                service="wan2gp",
                detail=text,
            )
        if "unknown model" in lowered or "validation error" in lowered or "direct filesystem paths" in lowered:
            return RejectedInput(f"Wan2GP rejected the job: {text}", service="wan2gp", detail=text)
        return exc

    @staticmethod
    def _raise_for_result(snapshot: JobSnapshot) -> None:
        if snapshot.succeeded:
            return
        if snapshot.cancelled:
            raise Cancelled("The Wan2GP job was cancelled.", service="wan2gp")
        result = snapshot.result or JobResultRecord()
        errors = (
            [e for e in result.errors if not e.cancelled]
            or result.errors
            or [JobErrorRecord(message="the job ended without a result", stage="runtime")]
        )
        raise _error_from_record(errors[0])


def _error_from_record(error: JobErrorRecord) -> GenBridgeError:
    message, stage = error.message.strip(), error.stage or "runtime"
    lowered = message.lower()
    if "out of memory" in lowered or "outofmemory" in lowered:
        return OutOfMemory(f"Wan2GP ran out of GPU memory during {stage}.", service="wan2gp", detail=message)
    if "on the hub" in lowered or "huggingface" in lowered:
        return ServerError(
            f"Wan2GP could not download the model weights: {message}",
            "The first run of a model downloads many GB; check the WanGP machine's internet "
            "connection or copy the weights into its ckpts folder.",
            service="wan2gp",
            detail=message,
        )
    if stage == "validation":
        return RejectedInput(f"Wan2GP rejected the job: {message}", service="wan2gp", detail=message)
    return ServerError(f"Wan2GP failed during {stage}: {message}", service="wan2gp", detail=message)


class _ProgressTracker:
    """Turns the job's event ring (most recent N, polled repeatedly) into new progress and log events once each."""

    def __init__(self, start: float = 0.0) -> None:
        self.last_seen = 0.0
        self._at_last: set[tuple[str, str]] = set()
        self.fraction = start
        self.phase = ""

    def feed(self, events: list[JobEventRecord]) -> list[BackendEvent]:
        out: list[BackendEvent] = []
        for event in events:
            # The ring is re-read on every poll: skip what we saw (events sharing a timestamp are told apart).
            key = (event.kind, repr(event.data)[:120])
            if event.timestamp < self.last_seen or (event.timestamp == self.last_seen and key in self._at_last):
                continue
            if event.timestamp > self.last_seen:
                self.last_seen, self._at_last = event.timestamp, set()
            self._at_last.add(key)
            update = self._map(event)
            if isinstance(update, BackendLog):
                out.append(update)
            elif update is not None:
                fraction, phase = update
                fraction = max(self.fraction, fraction)
                if (fraction, phase) != (self.fraction, self.phase):
                    self.fraction, self.phase = fraction, phase
                    out.append(BackendProgress(fraction=fraction, phase=phase))
        return out

    def _map(self, event: JobEventRecord) -> tuple[float, str] | BackendLog | None:
        data = event.data
        if event.kind == "status" and isinstance(data, str):
            text = data.strip().rstrip(".")
            if "download" in text.lower():
                # First use of a model downloads many GB inside the job, with no progress: say so.
                return self.fraction, f"{text} (first use of a model can take a long time)"
            return self.fraction, text
        if event.kind in ("progress", "preview") and isinstance(data, dict):
            percent = float(data.get("progress") or 0)
            step, total = data.get("current_step"), data.get("total_steps")
            phase_key = str(data.get("phase") or "")
            if step and total:
                phase = f"Sampling step {step}/{total}"
            else:
                phase = PHASES.get(phase_key) or str(data.get("status") or phase_key or "Working")
            if phase_key == "loading_model" and "download" in str(data.get("raw_phase") or "").lower():
                phase = "Downloading model"
            return min(percent / 100.0, 0.99), phase
        if event.kind in ("info", "error"):
            if isinstance(data, dict):
                return BackendLog(message=f"Wan2GP {event.kind} ({data.get('stage', '')}): {data.get('message', '')}")
            return BackendLog(message=f"Wan2GP: {data}")
        return None
