"""The loop thread leaves no thread behind when it stops, including asyncio's default executor threads."""

from __future__ import annotations

import asyncio
import threading
import time

from genbridge.runtime.loop import LoopThread


def test_stop_joins_the_default_executor_threads_used_by_to_thread():
    before = set(threading.enumerate())  # other tests' loops may have left their own executor threads
    loop_thread = LoopThread(name="genbridge-loop-test")

    busy: list[asyncio.Future] = []

    async def use_executor() -> None:
        await asyncio.to_thread(time.sleep, 0.01)
        # Still writing when the loop stops (like an output write at unregister): stop() must wait for it.
        busy.append(asyncio.ensure_future(asyncio.to_thread(time.sleep, 0.3)))
        await asyncio.sleep(0.05)

    loop_thread.run_coroutine(use_executor()).result(5)
    assert any(t.name.startswith("asyncio_") for t in set(threading.enumerate()) - before), "no executor used"
    assert loop_thread.stop(2.0)
    left = [t.name for t in set(threading.enumerate()) - before]
    assert left == [], f"threads left after stop(): {left}"
