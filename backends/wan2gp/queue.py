"""One generation at a time per WanGP server: a client-side FIFO.

WanGP refuses a second `wangp_generate` while one runs ("session already has a generation in progress"), so jobs
wait here for their turn. A waiting job can leave the line (cancel) without the server ever hearing of it. The
holder keeps the slot until the server says its job is done, even if the local task was cancelled first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator


class ServerQueue:
    """The line of jobs for one server; `holder` is the job the server is working on (or about to)."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self._waiting: deque[str] = deque()
        self._changed: asyncio.Event | None = None

    @property
    def waiting(self) -> list[str]:
        return list(self._waiting)

    @property
    def depth(self) -> int:
        """Jobs waiting plus the one running."""
        return len(self._waiting) + (1 if self.holder is not None else 0)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = asyncio.Event()

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    async def turns(self, job_id: str) -> AsyncIterator[int]:
        """Wait for the slot, yielding how many jobs are ahead whenever that changes; ends holding the slot.

        If the caller stops iterating (task cancelled, generator closed) the job leaves the line.
        """
        self._waiting.append(job_id)
        acquired = False
        try:
            last: int | None = None
            while True:
                if self.holder is None and self._waiting and self._waiting[0] == job_id:
                    self._waiting.popleft()
                    self.holder = job_id
                    acquired = True
                    self._notify()
                    return
                ahead = self._waiting.index(job_id) + (1 if self.holder is not None else 0)
                if ahead != last:
                    last = ahead
                    yield ahead
                await self._event().wait()
        finally:
            if not acquired and job_id in self._waiting:
                self._waiting.remove(job_id)
                self._notify()

    def remove(self, job_id: str) -> bool:
        """Take a waiting job out of the line; True if it was waiting (the server never heard of it)."""
        if job_id in self._waiting:
            self._waiting.remove(job_id)
            self._notify()
            return True
        return False

    def release(self, job_id: str) -> None:
        """Give the slot back (idempotent; only the holder can release)."""
        if self.holder == job_id:
            self.holder = None
            self._notify()
