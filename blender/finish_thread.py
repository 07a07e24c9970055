"""The slow, bpy-free half of finishing a capture (a pass's normalising and PNG encoding, `capture_common.Finishing`)
run in a plain worker thread owned by the GUI's capture run, so Blender's main thread is not frozen for it (about
1 s per 1280x720 pass in a Blender without numpy). Never the GenBridge loop thread: that one runs the jobs' I/O.

Thread rules: `FinishThread` is made, polled (`done`, `outcome`) and discarded on the main thread; its thread runs
only `Finishing.encode` (pure) and writes the one file `Finishing.path`, nothing else, and never touches bpy. The
GIL: plain-Python encoding holds it, but CPython hands it over every switch interval (5 ms), and Blender's main
thread, mostly in C (drawing, event handling, the render job's own thread), gets it back within that: the UI stays
live, at worst a few ms slower per frame while the worker runs. numpy and zlib release the GIL for their loops.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime import gcpause

if TYPE_CHECKING:  # capture_common imports bpy; this module stays bpy-free (tested with plain pytest)
    from .capture_common import Finishing


class FinishThread:
    """Encodes `finishing` in a daemon thread and writes its file, unless discarded first (Esc, cancel). A discard
    never waits for the encoding, only for a write already in progress (a few ms), and removes the file if it was
    written: a cancelled capture leaves no file, complete or partial."""

    def __init__(self, finishing: Finishing, name: str) -> None:
        self.path = Path(finishing.path)
        self.record = finishing.record
        self._encode = finishing.encode
        self._lock = threading.Lock()  # the write and the discard exclude each other
        self._discarded = False
        self.error: Exception | None = None
        # Daemon: Blender quitting mid-encode must not wait for it (the file is then not written, nothing queued).
        self._thread = threading.Thread(target=self._run, name=f"genbridge-finish-{name}", daemon=True)
        # No automatic garbage collection while the worker runs (ended by the worker itself, however it ends): its
        # allocations would trigger collections in this thread, which may free bpy wrappers while Blender's main
        # thread works without the GIL (drawing, depsgraph, the next render): see runtime/gcpause.py. ~1 s at most.
        gcpause.pause()
        try:
            self._thread.start()
        except BaseException:
            gcpause.resume()
            raise

    def _run(self) -> None:
        try:
            self._encode_and_write()
        finally:
            gcpause.resume()

    def _encode_and_write(self) -> None:
        try:
            data = self._encode()
            with self._lock:
                if self._discarded:
                    return
                try:
                    self.path.write_bytes(data)
                except BaseException:
                    self.path.unlink(missing_ok=True)  # no partial file: the run sees the error, not half a PNG
                    raise
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, which reports it as a CaptureError
            self.error = exc

    def done(self) -> bool:
        """Whether the thread has ended (file written, or failed: see `error`)."""
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (tests, benchmarks; the modal polls `done` instead); True if it has ended."""
        self._thread.join(timeout)
        return self.done()

    def discard(self) -> None:
        """Drop the result: the file is not written, or removed if it already was (main thread, Esc / cancel)."""
        with self._lock:
            self._discarded = True
        self.path.unlink(missing_ok=True)

    def outcome(self) -> dict[str, Any]:
        """The provenance once the file is written; raises the worker's error (call when `done()`)."""
        if self.error is not None:
            raise self.error
        return self.record
