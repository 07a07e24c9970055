"""The main-thread dispatcher: budgeted drains, idle back-off, a failing handler, identity-matched timers."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.runtime.dispatcher import MainThreadDispatcher


class FakeTimers:
    """bpy.app.timers semantics: callbacks match by identity, not equality."""

    def __init__(self) -> None:
        self.callbacks: list = []

    def register(self, fn, *, first_interval=0.0, persistent=False):
        assert persistent, "the pump must survive file loads"
        self.callbacks.append(fn)

    def unregister(self, fn):
        for i, cb in enumerate(self.callbacks):
            if cb is fn:
                del self.callbacks[i]
                return
        raise ValueError("function is not registered")

    def is_registered(self, fn):
        return any(cb is fn for cb in self.callbacks)


def ev(kind="progress", job_id="j"):
    return SimpleNamespace(kind=kind, job_id=job_id)


def test_start_registers_one_persistent_timer_and_stop_removes_it():
    timers = FakeTimers()
    d = MainThreadDispatcher(timers)
    d.start()
    d.start()
    assert len(timers.callbacks) == 1 and timers.callbacks[0] is d.timer_callback
    d.stop()
    assert timers.callbacks == []


def test_drain_stops_at_the_budget_and_leaves_the_rest_for_the_next_tick():
    clock = iter(range(0, 10_000)).__next__  # each clock read advances 1 "second"
    d = MainThreadDispatcher(budget_s=3, clock=clock)
    seen = []
    d.add_handler("progress", seen.append)
    for _ in range(10):
        d.post(ev())
    assert d.drain() == 3
    assert d.pending == 7


def test_tick_backs_off_when_idle_and_polls_fast_when_busy():
    d = MainThreadDispatcher(busy_interval=0.05, idle_interval=0.5)
    assert d.timer_callback() == 0.5
    d.post(ev())
    assert d.timer_callback() == 0.05


def test_a_failing_handler_is_logged_and_the_pump_keeps_running(caplog):
    # A frozen clock: logging the traceback may take longer than the tick budget on a loaded machine, and this
    # test is about the failing handler, not the budget (which has its own test with a stepping clock).
    d = MainThreadDispatcher(clock=lambda: 0.0)
    good = []

    def bad(event):
        raise RuntimeError("boom")

    d.add_handler("state", bad)
    d.add_handler("state", good.append)
    d.post(ev("state", "job-42"))
    d.post(ev("state", "job-43"))
    assert d.timer_callback() == d.busy_interval
    assert [e.job_id for e in good] == ["job-42", "job-43"]
    assert "job-42" in caplog.text


def test_tick_defers_while_blender_is_busy():
    busy = [True]
    d = MainThreadDispatcher(is_busy=lambda: busy[0])
    seen = []
    d.add_handler("output", seen.append)
    d.post(ev("output"))
    d.timer_callback()
    assert seen == [] and d.pending == 1
    busy[0] = False
    d.timer_callback()
    assert len(seen) == 1


# -- deferral never outlives its cause (issue 21.3) ---------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_hold_defers_delivery_until_it_is_released():
    clock = FakeClock()
    d = MainThreadDispatcher(clock=clock, budget_s=1.0)
    seen = []
    d.add_handler("progress", seen.append)
    d.hold("saving")
    d.post(ev())
    assert d.timer_callback() == d.busy_interval and seen == [] and d.pending == 1
    d.release("saving")  # save_post, or save_post_fail: either way the cause is over
    d.timer_callback()
    assert len(seen) == 1 and not d.holding()


def test_a_hold_whose_end_is_never_heard_lapses_with_a_warning(caplog):
    clock = FakeClock()
    d = MainThreadDispatcher(clock=clock, budget_s=1.0, max_hold_s=10.0)
    seen = []
    d.add_handler("progress", seen.append)
    d.hold("saving")  # a failed save on a Blender without save_post_fail: no release ever comes
    d.post(ev())
    clock.now = 9.9
    d.timer_callback()
    assert seen == [] and d.holding("saving")
    clock.now = 10.0
    d.timer_callback()
    assert len(seen) == 1, "delivery resumes once the hold lapses"
    assert not d.holding()
    assert "held results back for 'saving' but never heard it end" in caplog.text


def test_a_live_busy_cause_defers_only_while_it_lasts():
    busy = [True]
    d = MainThreadDispatcher(is_busy=lambda: busy[0], budget_s=1.0)
    seen = []
    d.add_handler("progress", seen.append)
    d.post(ev())
    assert d.timer_callback() == d.busy_interval and seen == []
    busy[0] = False
    d.timer_callback()
    assert len(seen) == 1
