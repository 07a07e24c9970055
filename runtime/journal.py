"""An append-only JSON-lines journal of job state changes: the record that survives a crash or a restart.

Each line is `{"t": time, "job": {...full snapshot...}}`, written and flushed before the change takes effect
in memory, so after a restart `latest()` gives the last known state of every job (including the remote ids
needed to re-attach).

Bounded and robust by design:
- The journal keeps every unfinished job and only the newest `keep_finished` finished ones (done, failed,
  cancelled); older finished jobs are dropped at the next compaction.
- Appends are O(1): one write of one line. Compaction rewrites only the kept lines, from memory, and runs only
  once the file has grown by at least as much as it holds after the last one (amortized O(1) per append).
- Reading never trusts the file: it goes line by line as bytes, each line capped at `max_line_bytes` (a 256 MB
  single line is skipped, never held whole), and damaged lines (invalid UTF-8, torn, not JSON, nested too deeply)
  are skipped and reported by line number and reason, never by quoting their content.
- The journal can never stop a job: `append` logs any failure (disk full, a read-only folder) and returns.

Thread rules: every public method may be called from any thread (a lock guards the file and the index); the
job service calls `append` on the loop thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .vocabulary import FINISHED_STATES

log = logging.getLogger("genbridge.journal")

MB = 1024 * 1024
DEFAULT_KEEP_FINISHED = 200  # about what a job list shows; a finished job is only needed to show it
MAX_DEPTH = 64  # a job snapshot is a few levels deep (a workflow graph about 6); deeper is damage or hostility
MAX_PROBLEMS = 20  # damaged lines reported one by one; beyond this only counted
# Fields a too-large snapshot keeps: enough to show, re-attach or fail the job, without its bulky inputs/text.
ESSENTIAL_FIELDS = (
    "id",
    "task",
    "state",
    "phase",
    "service",
    "requested_service",
    "instance",
    "template",
    "seed",
    "remote_ids",
    "sending",
    "target",
    "outputs",
    "error",
    "depends_on",
    "group",
    "created_at",
    "updated_at",
    "finished_at",
)


class Journal:
    """Thread-safe, bounded JSON-lines journal at `path`."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 8 * MB,
        keep_finished: int = DEFAULT_KEEP_FINISHED,
        max_line_bytes: int = 4 * MB,
        max_kept_bytes: int = 32 * MB,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep_finished = max(0, keep_finished)
        self.max_line_bytes = max_line_bytes
        # What the index may hold in memory: past it the oldest finished jobs go first, then (a journal no real
        # session writes) the oldest unfinished ones, reported.
        self.max_kept_bytes = max(max_kept_bytes, max_line_bytes)
        self.problems: list[str] = []  # damaged lines found by the last read: "line 12: not valid UTF-8"
        self.damaged_lines = 0
        self.write_failures = 0
        self.compactions = 0
        self._torn = False
        self._lock = threading.Lock()
        # The index: the newest line of every kept job (insertion order = order of last change), the finished ones
        # in the order they finished, and what we believe the file size is (another writer makes it differ).
        self._lines: dict[str, bytes] | None = None
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._kept_bytes = 0
        self._size: int | None = None  # learned from the file at the first write
        self._compact_at = max_bytes
        self._warned: set[str] = set()

    # -- writing -------------------------------------------------------------------------------------------------
    def append(self, snapshot: dict[str, Any]) -> None:
        """Write one job snapshot and flush it to the OS. Never raises: a failing journal is logged, jobs go on."""
        try:
            line = self._encode(snapshot)
            with self._lock:
                if self._lines is None and self._size is None and not _has_content(self.path):
                    self._lines = {}  # a new journal: index from the first line, never read the file back
                self._write_locked(line)
                self._index_locked(str(snapshot.get("id", "")), str(snapshot.get("state", "")), line)
                if self._size is not None and self._size > self._compact_at:
                    self._compact_locked()
        except Exception as exc:  # noqa: BLE001 - the journal must never stop a job; say so once per kind
            self.write_failures += 1
            kind = type(exc).__name__
            if kind not in self._warned:
                self._warned.add(kind)
                log.error(
                    "GenBridge could not write its journal %s (%s: %s); jobs keep running but may not be "
                    "re-attached after a crash. Check that the folder is writable and the disk not full.",
                    self.path,
                    kind,
                    exc,
                )
            else:
                log.debug("journal write failed again for job %s: %s", snapshot.get("id"), exc)

    def _encode(self, snapshot: dict[str, Any]) -> bytes:
        line = json.dumps({"t": time.time(), "job": snapshot}, separators=(",", ":"), default=str).encode()
        if len(line) < self.max_line_bytes:
            return line + b"\n"
        # Too big to read back: keep what re-attaching and the job list need, and say what was left out.
        slim = {k: snapshot[k] for k in ESSENTIAL_FIELDS if k in snapshot}
        slim["journal_note"] = "inputs and text too large for the journal"
        log.warning("job %s: a %d-byte snapshot is too big to journal; kept its essentials", slim.get("id"), len(line))
        return json.dumps({"t": time.time(), "job": slim}, separators=(",", ":"), default=str).encode() + b"\n"

    def _write_locked(self, line: bytes) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, flags, 0o600)
        try:
            if self._torn:  # the last write failed midway (disk full): end its torn line so this one reads alone
                line = b"\n" + line
            # One write() of a whole line in append mode: concurrent writers never interleave inside a line.
            view = memoryview(line)
            self._torn = True
            while view:
                view = view[os.write(fd, view) :]
            self._torn = False
            if self._size is None:
                self._size = os.fstat(fd).st_size  # an existing (maybe oversized) journal counts from the start
            else:
                self._size += len(line)
        finally:
            os.close(fd)

    def _index_locked(self, job_id: str, state: str, line: bytes) -> None:
        if self._lines is None:
            return  # not loaded yet: the first compaction (or latest()) reads the file once
        old = self._lines.pop(job_id, None)
        if old is not None:
            self._kept_bytes -= len(old)
        self._lines[job_id] = line
        self._kept_bytes += len(line)
        if state in FINISHED_STATES:
            self._finished.pop(job_id, None)
            self._finished[job_id] = None
            while len(self._finished) > self.keep_finished:
                dropped, _ = self._finished.popitem(last=False)
                gone = self._lines.pop(dropped, None)
                if gone is not None:
                    self._kept_bytes -= len(gone)
        else:
            self._finished.pop(job_id, None)
        while self._kept_bytes > self.max_kept_bytes and self._lines:
            if self._finished:
                dropped, _ = self._finished.popitem(last=False)
            else:
                dropped = next(iter(self._lines))
                self._damaged(
                    "the journal", f"holds more than {_size(self.max_kept_bytes)}; an old unfinished job was dropped"
                )
            gone = self._lines.pop(dropped, None)
            if gone is not None:
                self._kept_bytes -= len(gone)

    def _compact_locked(self) -> None:
        """Rewrite the file with the kept lines only (from memory); the next compaction waits for as much growth."""
        try:
            actual = self.path.stat().st_size
        except FileNotFoundError:
            actual = 0
        if self._lines is None or actual != self._size:
            self._load_locked()  # first compaction, or another process wrote too: rebuild the index from the file
        assert self._lines is not None
        tmp = self.path.with_name(self.path.name + ".tmp")
        # Flushed to the OS like every append, not fsynced: an fsync stalls the loop thread for up to ~0.1 s on a
        # busy disk, and the rename keeps either the old file or the new one whole.
        with tmp.open("wb") as fh:
            fh.writelines(self._lines.values())
        os.replace(tmp, self.path)
        self.compactions += 1
        self._size = self._kept_bytes
        # Amortized O(1): the rewrite costs O(kept bytes), so wait for at least that much new data.
        self._compact_at = max(self.max_bytes, 2 * self._kept_bytes)

    # -- reading -------------------------------------------------------------------------------------------------
    def latest(self) -> dict[str, dict[str, Any]]:
        """The last snapshot of every kept job: all unfinished ones and the newest `keep_finished` finished ones.

        Damaged lines are skipped; `problems` lists them (line number and reason, never their content)."""
        with self._lock:
            self._load_locked()
            assert self._lines is not None
            jobs: dict[str, dict[str, Any]] = {}
            for job_id, line in list(self._lines.items()):
                parsed = _parse(line)
                if isinstance(parsed, dict) and _too_deep(parsed):
                    parsed = f"nested more than {MAX_DEPTH} levels deep"
                if isinstance(parsed, str):
                    self._damaged("a job record", parsed)
                    self._kept_bytes -= len(self._lines.pop(job_id))
                    self._finished.pop(job_id, None)
                    continue
                jobs[job_id] = parsed["job"]
            return jobs

    def _load_locked(self) -> None:
        self._lines = {}
        self._finished = OrderedDict()
        self._kept_bytes = 0
        self.problems = []
        self.damaged_lines = 0
        size = 0
        try:
            with self.path.open("rb") as fh:
                for number, raw, too_long in _lines_of(fh, self.max_line_bytes):
                    size += raw if isinstance(raw, int) else len(raw)
                    if too_long:
                        self._damaged(f"line {number}", f"longer than {_size(self.max_line_bytes)}")
                        continue
                    assert isinstance(raw, bytes)
                    if not raw.strip():
                        continue
                    parsed = _parse(raw)
                    if isinstance(parsed, str):
                        self._damaged(f"line {number}", parsed)
                        continue
                    job = parsed["job"]
                    line = raw if raw.endswith(b"\n") else raw + b"\n"
                    self._index_locked(job["id"], str(job.get("state", "")), line)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.problems.append(f"could not read the journal: {exc.strerror or type(exc).__name__}")
            log.error("GenBridge could not read its journal %s: %s", self.path, exc)
        self._size = size
        self._compact_at = max(self.max_bytes, 2 * self._kept_bytes)
        if self.damaged_lines:
            more = self.damaged_lines - len(self.problems)
            log.warning(
                "GenBridge journal %s: %d damaged line(s) skipped (%s%s)",
                self.path,
                self.damaged_lines,
                "; ".join(self.problems),
                f"; and {more} more" if more > 0 else "",
            )

    def _damaged(self, where: str, reason: str) -> None:
        self.damaged_lines += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {reason}")


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _size(n: int) -> str:
    return f"{n // MB} MB" if n >= MB else f"{n // 1024} KB"


def _lines_of(fh: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | int, bool]]:
    """(line number, line bytes, False) per line; an over-long line is skipped in chunks and yields
    (number, its length, True), so no line larger than `limit` is ever held in memory."""
    number = 0
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield number, raw, False
            continue
        length = len(raw)
        while raw and not raw.endswith(b"\n"):
            raw = fh.readline(1 * MB)
            length += len(raw)
        yield number, length, True


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The decoded record, or why the line is damaged (a reason, never the line's content)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    try:
        record = json.loads(text)
    except RecursionError:
        return f"nested more than {MAX_DEPTH} levels deep"
    except ValueError:
        return "not JSON (cut off by a crash, or damaged)"
    job = record.get("job") if isinstance(record, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
        return "not a job record"
    return record


def _too_deep(record: Any) -> bool:
    """True if the parsed record nests deeper than MAX_DEPTH (iterative: no recursion on hostile data)."""
    stack: list[tuple[Any, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False
