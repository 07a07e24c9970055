"""Pausing Python's automatic cyclic garbage collector while Blender works on its data without the GIL.

Why: Blender releases the GIL for the whole of `bpy.ops.render.render` (measured in bpy 4.5: a plain Python thread
ran ~2M loop iterations during one 0.16 s Workbench render) and for depsgraph evaluation, so every other Python
thread (the GenBridge loop thread, `asyncio.to_thread` writers, a capture's `FinishThread`, stand-in servers in tests)
runs *concurrently* with Blender's C code. An automatic collection is triggered by allocation in whichever thread
allocates (importing or compiling a module, `tomllib.loads`, encoding a PNG: the threads seen in the crash dumps), and
it may deallocate bpy wrappers (`bpy.types.*` objects caught in reference cycles) from that thread, which reads and
frees Blender memory the render is changing at that moment: a rare segfault in the bpy module (4.2, 4.5, 5.0).
With automatic collection paused, such wrappers are freed only by reference counting at the point where the code
holding them drops them, or by a later collection once Blender's work has ended.

`gc_paused()` nests and may be entered and left from different threads (a counter under a lock); the collector is
enabled again when the last pause ends, unless it was already disabled when the first began. Stdlib only.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


def pause() -> None:
    """Begin a pause (pair with `resume()`; prefer `gc_paused()`)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1


def resume() -> None:
    """End a pause; the collector runs again once no pause is left (if it ran before the first)."""
    global _pauses
    with _lock:
        if _pauses == 0:
            return  # unpaired: never let the count go negative (and never enable a collector someone disabled)
        _pauses -= 1
        if _pauses == 0 and _was_enabled:
            gc.enable()


def paused() -> bool:
    """Whether a pause is in progress (tests, diagnostics)."""
    return _pauses > 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection, in any thread, for the block."""
    pause()
    try:
        yield
    finally:
        resume()
