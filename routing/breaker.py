"""A circuit breaker per endpoint: closed (use it), open (skip it), half-open (one trial after a cooldown).

Fed by the health monitor (probe results) and by request failures; the clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


USABLE_STATES = (BreakerState.CLOSED, BreakerState.HALF_OPEN)  # an endpoint in these states may take work


class CircuitBreaker:
    """Opens after `failures_to_open` consecutive failures; after `cooldown_s` lets one trial through."""

    __slots__ = (
        "_cooldown",
        "_failures",
        "_opened_at",
        "_state",
        "clock",
        "cooldown_s",
        "failures_to_open",
        "max_cooldown_s",
    )

    def __init__(
        self,
        failures_to_open: int = 2,
        cooldown_s: float = 10.0,
        max_cooldown_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._cooldown = cooldown_s

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker turns half-open once its cooldown has passed."""
        if self._state is BreakerState.OPEN and self.clock() - self._opened_at >= self._cooldown:
            self._state = BreakerState.HALF_OPEN
        return self._state

    @property
    def retry_in_s(self) -> float:
        """Seconds until an open breaker allows a trial (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self.clock())

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cooldown = self.cooldown_s

    def record_failure(self) -> None:
        state = self.state
        self._failures += 1
        if state is BreakerState.HALF_OPEN:
            # The trial failed: stay away longer each time.
            self._cooldown = min(self._cooldown * 2, self.max_cooldown_s)
            self._open()
        elif state is BreakerState.CLOSED and self._failures >= self.failures_to_open:
            self._open()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self.clock()
