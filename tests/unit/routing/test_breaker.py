"""The circuit breaker's states: closed -> open after failures -> half-open after a cooldown -> closed or open."""

from __future__ import annotations

from genbridge.routing.breaker import BreakerState, CircuitBreaker


def test_breaker_opens_after_consecutive_failures(clock):
    b = CircuitBreaker(failures_to_open=2, cooldown_s=10, clock=clock)
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN


def test_success_resets_the_failure_count(clock):
    b = CircuitBreaker(failures_to_open=2, clock=clock)
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_open_breaker_turns_half_open_after_cooldown(clock):
    b = CircuitBreaker(failures_to_open=1, cooldown_s=10, clock=clock)
    b.record_failure()
    clock.advance(9.9)
    assert b.state is BreakerState.OPEN and b.retry_in_s > 0
    clock.advance(0.2)
    assert b.state is BreakerState.HALF_OPEN


def test_successful_trial_closes_the_breaker(clock):
    b = CircuitBreaker(failures_to_open=1, cooldown_s=10, clock=clock)
    b.record_failure()
    clock.advance(10)
    b.record_success()
    assert b.state is BreakerState.CLOSED


def test_failed_trial_reopens_with_a_longer_cooldown(clock):
    b = CircuitBreaker(failures_to_open=1, cooldown_s=10, max_cooldown_s=15, clock=clock)
    b.record_failure()
    clock.advance(10)
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.advance(14)
    assert b.state is BreakerState.OPEN
    clock.advance(1)
    assert b.state is BreakerState.HALF_OPEN
