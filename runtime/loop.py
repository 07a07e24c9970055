"""One asyncio event loop in one daemon thread, started on first use and stopped within a deadline.

Stdlib only: the main thread may import this for free. Thread contract: everything scheduled here runs on the
loop thread; callers on other threads only use `call_soon` and `run_coroutine`, which never block.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from . import gcpause

log = logging.getLogger("genbridge.loop")
HOLD_LIMIT_S = 30.0  # a held loop runs again after this long, whatever the holder does
# How long a caller that renders in place (blocking: scripts, the bpy module, cast captures) waits for the loop to
# park. The loop can be inside one long callback: the job service's start imports pydantic, aiohttp and the backends
# (seconds on a busy machine, more on the first run after an edit, when the .pyc files are compiled). Rendering after
# the 0.5 s default while that import ran crashed bpy 4.5 (faulthandler: loop thread in `_create_service` importing,
# main thread in `bpy.ops` rendering; tests/blender/test_capture_job.py, 2 in 24 runs).
BLOCKING_PARK_WAIT_S = 30.0

T = TypeVar("T")


class Park:
    """A request that the loop thread stop running Python for a while (see `LoopThread.request_park`)."""

    def __init__(self) -> None:
        self.parked = threading.Event()  # set by the loop thread once it is parked (or at once without a loop)
        self.released = threading.Event()

    def release(self) -> None:
        """Let the loop run again (also when it has not parked yet: it then passes straight through)."""
        self.released.set()


class LoopThread:
    """A lazily started event loop thread. `stop()` cancels every task, then joins."""

    def __init__(self, name: str = "genbridge-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._before_stop: Callable[[], Coroutine[Any, Any, None]] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        self.start()
        assert self._loop is not None
        return self._loop

    def start(self) -> None:
        """Start the thread if it is not running; cheap when it is."""
        if self.running:
            return
        with self._lock:
            if self.running:
                return
            self._ready.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
                loop.run_until_complete(loop.shutdown_asyncgens())
                # Join the default executor's threads (asyncio.to_thread: output writes): close() alone only tells
                # them to exit, so right after unregister() Blender could still see them (the GUI suite did).
                loop.run_until_complete(loop.shutdown_default_executor())
            except Exception:
                log.exception("error while shutting down the GenBridge loop")
            finally:
                loop.close()
                self._loop = None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule a plain callable on the loop thread (thread-safe, never blocks)."""
        self.loop.call_soon_threadsafe(fn, *args)

    @contextlib.contextmanager
    def held_still(self, max_wait_s: float = 0.5) -> Iterator[bool]:
        """Park the loop thread (blocked on a lock, running no Python) for the duration of the block.

        Blender renders on the main thread during a capture, and bpy crashed (4.2 and 4.5) when the loop thread
        imported or compiled a module at that moment. The caller waits at most `max_wait_s` for the loop to park
        (between two callbacks); yields whether it did. The loop runs again when the block ends, or after
        HOLD_LIMIT_S whatever happens. Jobs only pause: their servers keep working meanwhile.
        """
        # The loop thread is not the only Python thread that runs while Blender renders (Blender releases the GIL
        # for the render): asyncio.to_thread writers, a capture's FinishThread, anything an add-on or a test runs.
        # None of them may start a cyclic garbage collection meanwhile: see gcpause. Paused even when the loop
        # does not park in time (max_wait_s) or runs again after HOLD_LIMIT_S, for as long as the block lasts.
        with gcpause.gc_paused():
            if not self.running or self._loop is None:
                yield False
                return
            park = self.request_park()
            try:
                yield park.parked.wait(max_wait_s)
            finally:
                park.release()

    def request_park(self) -> Park:
        """Ask the loop thread to park at its next callback boundary, without waiting for it: a caller that must not
        block (the GUI's capture modal) polls `parked` on later ticks and starts its render only once it is set.
        Call `release()` when done; the loop runs again after HOLD_LIMIT_S whatever happens."""
        park = Park()
        if not self.running or self._loop is None:
            park.parked.set()  # no loop thread running: nothing to wait for
            return park

        def parked_here() -> None:
            park.parked.set()
            park.released.wait(HOLD_LIMIT_S)

        self.call_soon(parked_here)
        return park

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine; returns a concurrent future (do not wait on it from Blender's main thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def set_before_stop(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A coroutine run on the loop before it stops (the job service journals in-flight jobs here)."""
        self._before_stop = hook

    def stop(self, timeout: float = 1.0) -> bool:
        """Run the before-stop hook, stop the loop and join the thread; True when the thread has ended."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            self._thread = None
            return True
        deadline = timeout * 0.6
        if self._before_stop is not None:
            fut: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(self._before_stop(), loop)
            try:
                fut.result(timeout=deadline)
            except Exception:
                log.exception("before-stop hook failed or timed out")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout * 0.4)
        ended = not thread.is_alive()
        if ended:
            self._thread = None
        return ended
