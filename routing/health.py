"""A health monitor: probes every endpoint on the loop thread at an interval with jitter, off the decision path.

Its results go to `Router.observe_probe` (breakers, VRAM, queue depth), so `plan()` only reads cached state and
never waits for the network. Jitter keeps several Blender sessions from probing a shared server in lockstep.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable

from ..runtime.backend import ProbeResult

log = logging.getLogger("genbridge.routing.health")

ProbeAll = Callable[[], Awaitable[Iterable[ProbeResult]]]


class HealthMonitor:
    """Calls `probe_all()` every `interval_s` (+/- `jitter` share) and hands each result to `on_result`."""

    def __init__(
        self,
        probe_all: ProbeAll,
        on_result: Callable[[ProbeResult], None],
        *,
        interval_s: float = 15.0,
        jitter: float = 0.2,
        timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.probe_all = probe_all
        self.on_result = on_result
        self.interval_s = interval_s
        self.jitter = jitter
        self.timeout_s = timeout_s
        self.rng = rng or random.Random()
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start probing on the running loop (call from the loop thread); no-op when already running."""
        if not self.running:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="genbridge-health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        # Cancel until it takes: on Python 3.11 `wait_for` can swallow a cancel that races with its result.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)

    def next_delay(self) -> float:
        return self.interval_s * (1.0 + self.rng.uniform(-self.jitter, self.jitter))

    async def check_once(self) -> None:
        """One round of probes; a failing probe function is logged, never fatal."""
        try:
            results = await asyncio.wait_for(self.probe_all(), self.timeout_s)
        except TimeoutError:
            log.warning("health check took longer than %.0f s; skipped this round", self.timeout_s)
            return
        except Exception:
            log.exception("health check failed")
            return
        for result in results:
            self.on_result(result)
        self.rounds += 1

    async def _run(self) -> None:
        while not self._stopping:
            await self.check_once()
            await asyncio.sleep(self.next_delay())
