"""The main-thread side of the runtime: one queue, drained by one persistent timer under a time budget.

Thread contract (after Pallaidium's queue_ops): the loop thread only calls `post()` with plain-data events;
handlers run on the thread that calls the timer callback (Blender's main thread) and are the only code that
writes Blender data. The timer API is injected (`bpy.app.timers` in Blender, a fake in tests) because timers
never fire in the bpy module; tests call `timer_callback()` themselves, exactly as Blender would.

Deferral never outlives its cause: `is_busy` is asked live on every tick (a render, a bake), and a latched cause
(a save, known from `save_pre` until `save_post`/`save_post_fail`) is a `hold()` that ends at `release()` or, if
the end is never heard of, after `max_hold_s`, with a warning in the log. Stdlib only.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("genbridge.dispatcher")

Handler = Callable[[Any], None]


class TimerAPI(Protocol):
    def register(
        self, function: Callable[[], float | None], *, first_interval: float = 0.0, persistent: bool = False
    ) -> None: ...
    def unregister(self, function: Callable[[], float | None]) -> None: ...
    def is_registered(self, function: Callable[[], float | None]) -> bool: ...


class MainThreadDispatcher:
    """Drains posted events into handlers keyed by the event's `kind`, at most `budget_s` per tick."""

    def __init__(
        self,
        timers: TimerAPI | None = None,
        *,
        budget_s: float = 0.002,
        busy_interval: float = 0.05,
        idle_interval: float = 0.5,
        is_busy: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        max_hold_s: float = 10.0,
        after_drain: Callable[[int], None] | None = None,
    ) -> None:
        self._timers = timers
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._handlers: dict[str, list[Handler]] = {}
        self.budget_s = budget_s
        self.busy_interval = busy_interval
        self.idle_interval = idle_interval
        self._is_busy = is_busy or (lambda: False)
        self._clock = clock
        # A save blocks Blender's main thread, so a timer never sees one in progress: a hold still set when the
        # timer runs means its end was missed (a failed save on a Blender without save_post_fail). 10 s is plenty.
        self.max_hold_s = max_hold_s
        self._holds: dict[str, tuple[float, float]] = {}  # reason -> (clock time it lapses, its length)
        self._after_drain = after_drain  # called each tick with the number of events handled (e.g. to redraw)
        self.ticks = 0
        self.last_tick_at = 0.0
        # Timers match callbacks by identity: keep this one bound method for register/unregister/is_registered.
        self.timer_callback = self._tick

    # -- any thread -------------------------------------------------------------------------------------------
    def post(self, event: Any) -> None:
        """Queue an event for the main thread. Thread-safe, never blocks."""
        self._queue.put(event)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -- main thread --------------------------------------------------------------------------------------------
    def add_handler(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def remove_handlers(self) -> None:
        self._handlers.clear()

    def hold(self, reason: str, max_s: float | None = None) -> None:
        """Defer delivery until `release(reason)`, or at most `max_s` (default `max_hold_s`) seconds."""
        span = self.max_hold_s if max_s is None else max_s
        self._holds[reason] = (self._clock() + span, span)

    def release(self, reason: str) -> None:
        """End a hold (no-op if there is none)."""
        self._holds.pop(reason, None)

    def holding(self, reason: str | None = None) -> bool:
        """Whether delivery is held (for `reason`, or for any reason); lapsed holds end here, with a warning."""
        now = self._clock()
        for name, (until, span) in list(self._holds.items()):
            if now >= until:
                del self._holds[name]
                log.warning(
                    "GenBridge held results back for '%s' but never heard it end; delivering again after %g s",
                    name,
                    span,
                )
        return bool(self._holds) if reason is None else reason in self._holds

    def drain(self, budget_s: float | None = None) -> int:
        """Hand queued events to their handlers until the queue is empty or the budget is spent."""
        budget = self.budget_s if budget_s is None else budget_s
        deadline = self._clock() + budget
        handled = 0
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            handled += 1
            for handler in self._handlers.get(getattr(event, "kind", ""), ()):
                try:
                    handler(event)
                except Exception:
                    log.exception("GenBridge handler %r failed for job %s", handler, getattr(event, "job_id", "?"))
            if self._clock() >= deadline:
                break
        return handled

    def _tick(self) -> float:
        """The timer callback: defer while Blender is busy, else drain; return the next interval."""
        self.ticks += 1
        self.last_tick_at = time.monotonic()
        try:
            if self.holding() or self._is_busy():
                return self.busy_interval
            handled = self.drain()
            if self._after_drain is not None:
                self._after_drain(handled)
        except Exception:
            log.exception("GenBridge timer tick failed")
            return self.busy_interval
        return self.busy_interval if handled or not self._queue.empty() else self.idle_interval

    def start(self) -> None:
        """Register the persistent timer (idempotent)."""
        if self._timers is not None and not self._timers.is_registered(self.timer_callback):
            self._timers.register(self.timer_callback, first_interval=0.0, persistent=True)

    @property
    def registered(self) -> bool:
        return self._timers is not None and self._timers.is_registered(self.timer_callback)

    def stop(self) -> None:
        """Unregister the timer; queued events stay until the next `drain()` (or are dropped with us)."""
        if self._timers is not None and self._timers.is_registered(self.timer_callback):
            self._timers.unregister(self.timer_callback)
