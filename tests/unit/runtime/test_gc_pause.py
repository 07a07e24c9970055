"""No automatic cyclic garbage collection, in any thread, while Blender renders or a capture's worker encodes.

Blender releases the GIL for a whole render, so other Python threads run meanwhile; a collection they trigger may free
bpy wrappers while Blender changes that memory (rare segfaults in the bpy module). These tests pin that every place
that renders (`held_still`, with or without a loop thread) and the FinishThread pause the collector, that the pauses
nest across threads, and that a collector someone else disabled stays disabled."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from genbridge.blender.finish_thread import FinishThread
from genbridge.runtime import Runtime, gcpause
from genbridge.runtime.loop import LoopThread

WAIT_S = 30  # a bound on waiting for a thread, not a timing assertion


@pytest.fixture(autouse=True)
def collector_enabled():
    assert not gcpause.paused(), "a previous test left a pause open"
    was = gc.isenabled()
    gc.enable()
    yield
    assert not gcpause.paused()
    (gc.enable if was else gc.disable)()


def test_held_still_pauses_the_collector_while_the_loop_is_parked_and_restores_it():
    loop = LoopThread()
    loop.start()
    try:
        with loop.held_still() as parked:
            assert parked and not gc.isenabled()
        assert gc.isenabled()
    finally:
        assert loop.stop(1.0)


def test_held_still_pauses_the_collector_even_without_a_loop_thread():
    # The blocking capture path renders before any job started the loop: stand-ins, writers, workers still run.
    with LoopThread().held_still() as parked:
        assert parked is False and not gc.isenabled()
    assert gc.isenabled()
    runtime = Runtime(settings=lambda: {}, emit=lambda _event: None, journal_path=None)
    with runtime.held_still() as parked:
        assert parked is False and not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_even_when_the_render_raises():
    with pytest.raises(RuntimeError), LoopThread().held_still():
        raise RuntimeError("render failed")
    assert gc.isenabled()


def test_pauses_nest_across_threads_and_a_disabled_collector_stays_disabled():
    gcpause.pause()  # e.g. a FinishThread still encoding
    with gcpause.gc_paused():  # then a render
        assert not gc.isenabled()
    assert not gc.isenabled()  # the worker's pause is still open
    ended = threading.Event()

    def worker() -> None:  # a pause may end on another thread than the one that began it
        gcpause.resume()
        ended.set()

    threading.Thread(target=worker).start()
    assert ended.wait(WAIT_S) and gc.isenabled()
    gcpause.resume()  # unpaired: ignored, never below zero
    assert gc.isenabled() and not gcpause.paused()
    gc.disable()
    with gcpause.gc_paused():
        pass
    assert not gc.isenabled()  # someone else's choice is kept


class Finishing:
    """The shape of `capture_common.Finishing` (that module needs bpy)."""

    def __init__(self, path: Path, encode) -> None:
        self.path, self.encode, self.record = path, encode, {"path": str(path)}


@pytest.mark.parametrize("fails", [False, True])
def test_the_finish_worker_runs_with_the_collector_paused_and_ends_the_pause_however_it_ends(tmp_path, fails):
    seen: list[bool] = []
    gate = threading.Event()

    def encode() -> bytes:
        seen.append(gc.isenabled())
        gate.wait(WAIT_S)
        if fails:
            raise ValueError("broken pass")
        return b"png"

    thread = FinishThread(Finishing(tmp_path / "pass.png", encode), "image-depth")
    assert not gc.isenabled()  # paused from the start, before the worker allocates anything
    gate.set()
    assert thread.join(WAIT_S)
    assert seen == [False] and gc.isenabled()
    assert (thread.error is not None) is fails


def test_a_blocking_render_waits_for_a_loop_busy_in_one_long_callback():
    # The job service's start imports for seconds in one callback; a render in place that went ahead after 0.5 s
    # while it imported crashed bpy 4.5. The blocking callers wait for the park instead (BLOCKING_PARK_WAIT_S).
    from genbridge.runtime.loop import BLOCKING_PARK_WAIT_S

    loop = LoopThread()
    loop.start()
    busy, started = threading.Event(), threading.Event()

    def long_import() -> None:
        started.set()
        busy.wait(WAIT_S)

    loop.call_soon(long_import)
    assert started.wait(WAIT_S)
    try:
        with loop.held_still(0.05) as parked:
            assert parked is False  # the short wait gives up (the GUI's render job path)
        threading.Timer(0.7, busy.set).start()  # the "import" ends after the default 0.5 s would have given up
        with loop.held_still(BLOCKING_PARK_WAIT_S) as parked:
            assert parked is True
    finally:
        busy.set()
        assert loop.stop(1.0)


def test_a_park_request_waits_for_a_busy_loop_without_blocking_the_caller():
    # The GUI's capture modal must not block Blender's main thread while the loop finishes a long callback: it asks
    # once and polls each tick, rendering only once the loop is parked; release lets the loop run on.
    loop = LoopThread()
    loop.start()
    busy, started, ran_after = threading.Event(), threading.Event(), threading.Event()

    def long_import() -> None:
        started.set()
        busy.wait(WAIT_S)

    loop.call_soon(long_import)
    assert started.wait(WAIT_S)
    try:
        park = loop.request_park()
        assert not park.parked.is_set()  # returned at once, not parked: the loop is still inside the callback
        busy.set()
        assert park.parked.wait(WAIT_S)
        loop.call_soon(ran_after.set)
        assert not ran_after.wait(0.2)  # parked: nothing else runs on the loop
        park.release()
        assert ran_after.wait(WAIT_S)
    finally:
        busy.set()
        assert loop.stop(1.0)


def test_a_park_request_without_a_running_loop_is_parked_at_once():
    assert LoopThread().request_park().parked.is_set()
