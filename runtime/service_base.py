"""The job service's state and its record keeping: the jobs, their tasks, one client per endpoint, and how every
change is journaled and reported. `JobService` (service.py) builds on it with running, re-attaching
(reattach.py) and moving waiting work (rebalance.py).

Loop thread only. Each state change is journaled before it takes effect and then emitted as a plain-data
`JobEvent`; messages and snapshots are redacted first, so no configured key reaches the journal or the UI.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .backend import BackendClient, ClientFactory
from .errors import GenBridgeError
from .events import JobEvent
from .jobs import Job, JobErrorInfo, JobState, PlanStep
from .journal import Journal
from .redact import StreamRedactor, redact, redact_data
from .routing_api import JobRouter
from .settings import Endpoint, Settings

log = logging.getLogger("genbridge.jobs")


class ServiceBase:
    """What every part of the job service shares. Every method runs on the loop thread."""

    def __init__(
        self,
        settings: Settings,
        emit: Callable[[Any], None],
        journal: Journal,
        *,
        router: JobRouter | None = None,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._clock, self._sleep = clock, sleep  # injected so tests of waiting never wait on the wall clock
        self.emit = emit
        self.journal = journal
        if router is None:
            from ..routing import Router

            router = Router(settings)
        self.router = router
        if client_factory is None:
            from ..backends import make_client

            client_factory = make_client
        self.client_factory = client_factory
        self.jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, list[concurrent.futures.Future[dict[str, Any]]]] = {}
        # One client per endpoint *as configured*: a changed key or label gives a new client for the next request
        # (a client keeps its endpoint, so reusing it would keep sending the old key).
        self._clients: dict[tuple[str, str, str, str], BackendClient] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._moving: dict[str, str] = {}  # job id -> endpoint URL it was taken back for (see `_take_back`)
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._shutting_down = False
        # job id -> the redactor of its streamed text (held-back key starts); dropped when the stream ends.
        self._text_streams: dict[str, StreamRedactor] = {}

    def client_for(self, endpoint: Endpoint) -> BackendClient:
        """The client of this endpoint as configured now (URL, key and label)."""
        key = client_key(endpoint)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self.client_factory(endpoint, self.settings)
        return client

    def output_dir(self, job: Job) -> Path:
        return self.settings.output_path / f"{job.task}-{job.id}"

    def _endpoint(self, step: PlanStep) -> Endpoint:
        for ep in self.settings.endpoints(step.service, enabled_only=False):
            if ep.url == step.instance:
                return ep
        return Endpoint(service=step.service, url=step.instance)  # type: ignore[arg-type]

    @staticmethod
    def _tell_router(hook: Callable[..., None], *args: Any) -> None:
        """Tell the router what happened (load, breakers); a failing hook is logged, the job goes on."""
        try:
            hook(*args)
        except Exception:
            log.exception("router hook %s failed", getattr(hook, "__name__", hook))

    def _record(self, job: Job) -> None:
        """Journal, then tell the main thread. Both see the same snapshot."""
        snapshot = redact_data(job.snapshot())
        try:
            self.journal.append(snapshot)
        except OSError:
            log.exception("could not journal job %s", job.id)
        self.emit(
            JobEvent(
                job_id=job.id, kind="state", state=job.state.value, progress=job.progress, phase=job.phase, job=snapshot
            )
        )

    def _move(self, job: Job, state: JobState, phase: str) -> None:
        # Journal the change before it takes effect: build the new snapshot on a copy first.
        future = job.model_copy(deep=True)
        future.move_to(state, phase)
        try:
            self.journal.append(redact_data(future.snapshot()))
        except OSError:
            log.exception("could not journal job %s", job.id)
        job.move_to(state, phase)
        self.emit(
            JobEvent(
                job_id=job.id,
                kind="state",
                state=job.state.value,
                progress=job.progress,
                phase=redact(job.phase),
                job=redact_data(job.snapshot()),
            )
        )

    def _finish(self, job: Job, state: JobState, phase: str, error: GenBridgeError | None) -> None:
        if job.state.terminal:
            return
        if error is not None:
            info = error.to_dict()
            job.error = JobErrorInfo(**info)
            log.info("job %s ended %s: %s", job.id, state.value, error)
        self._move(job, state, phase if error is None else f"{phase}: {error.message}")

    def _log(self, job: Job, message: str) -> None:
        message = redact(message)  # notes quote servers (fallback reasons, backend logs)
        log.info("job %s: %s", job.id, message)
        self.emit(JobEvent(job_id=job.id, kind="log", text=message))

    def _resolve_waiters(self, job: Job) -> None:
        event = self._finished.get(job.id)
        if event is not None:
            event.set()
        for fut in self._waiters.pop(job.id, []):
            if not fut.done():
                fut.set_result(job.snapshot())

    # Provided by JobService: declared here so the parts that build on this class can call them.
    def submit(self, job: Job, done: concurrent.futures.Future[dict[str, Any]] | None = None) -> None:
        raise NotImplementedError

    async def _run(self, job: Job, *, reattach: bool = False) -> None:
        raise NotImplementedError


def client_key(endpoint: Endpoint) -> tuple[str, str, str, str]:
    """What makes two endpoints the same client: service, URL, the key in effect (environment included), label."""
    return (endpoint.service, endpoint.url, endpoint.api_key or "", endpoint.label)
