"""An append-only JSON-lines journal of job state changes: the record that survives a crash or a restart.

Each line is `{"t": time, "job": {...full snapshot...}}`, written and flushed before the change takes effect
in memory, so after a restart `latest()` gives the last known state of every job (including the remote ids
needed to re-attach). The file is compacted to one line per job when it grows past `max_bytes`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("genbridge.journal")


class Journal:
    """Thread-safe JSON-lines journal at `path`."""

    def __init__(self, path: Path, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def append(self, snapshot: dict[str, Any]) -> None:
        """Write one job snapshot and flush it to the OS before returning."""
        line = json.dumps({"t": time.time(), "job": snapshot}, separators=(",", ":"), default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
            try:
                if self.path.stat().st_size > self.max_bytes:
                    self._compact_locked()
            except OSError:
                log.exception("could not compact the journal %s", self.path)

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last snapshot of every job in the journal; torn or corrupt lines are skipped and logged."""
        jobs: dict[str, dict[str, Any]] = {}
        with self._lock:
            if not self.path.exists():
                return jobs
            with self.path.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    try:
                        job = json.loads(line)["job"]
                        jobs[job["id"]] = job
                    except (ValueError, KeyError, TypeError):
                        log.warning("journal %s line %d is damaged and was skipped", self.path, number)
        return jobs

    def _compact_locked(self) -> None:
        jobs: dict[str, str] = {}
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    jobs[json.loads(line)["job"]["id"]] = line
                except (ValueError, KeyError, TypeError):
                    continue
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(jobs.values())
        os.replace(tmp, self.path)
