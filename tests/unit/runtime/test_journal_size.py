"""The journal stays small: finished jobs beyond `keep_finished` are dropped, it compacts to well under its limit,
and appends are O(1) (compaction is amortized: it rewrites only what is kept, and only after as much growth)."""

from __future__ import annotations

import json

from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal

LIMIT = 8 * 1024 * 1024


def job_lines(job: Job, pad: str) -> list[dict]:
    """About six snapshots per job of about 1 KB each, as a real job leaves (queued ... done)."""
    job.inputs = {"prompt": pad}
    snaps = []
    for state in (JobState.SUBMITTED, JobState.RUNNING, JobState.RUNNING, JobState.DOWNLOADING, JobState.DONE):
        snaps.append(job.snapshot())
        job.move_to(state)
    snaps.append(job.snapshot())
    return snaps


class CountingJournal(Journal):
    """Counts compactions and the bytes each rewrote."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rewritten: list[int] = []

    def _compact_locked(self) -> None:
        super()._compact_locked()
        self.rewritten.append(self._kept_bytes)


def test_9000_finished_jobs_are_dropped_down_to_what_the_job_list_shows(tmp_path):
    journal = CountingJournal(tmp_path / "journal.jsonl", max_bytes=LIMIT, keep_finished=200)
    pad = "x" * 800
    unfinished = [Job(task="image", state=JobState.INTERRUPTED, remote_ids={"u": str(i)}) for i in range(10)]
    for job in unfinished:
        journal.append(job.snapshot())
    appended = 0
    for _ in range(9000):
        for snap in job_lines(Job(task="image"), pad):
            journal.append(snap)
            appended += 1
    size = journal.path.stat().st_size

    latest = journal.latest()
    finished = [j for j in latest.values() if j["state"] == "done"]
    assert len(finished) == 200, "only as many finished jobs as the job list shows"
    assert {j.id for j in unfinished} <= set(latest), "unfinished jobs are never dropped"
    assert journal.rewritten, "the journal compacted"
    assert max(journal.rewritten) < LIMIT / 4, "each compaction leaves the journal well under its limit"
    assert size < LIMIT + 2 * 1024, "never far past the limit"
    # Amortized O(1): all compactions together rewrote less than what was appended, a handful of times in all.
    total_appended = appended * 1024
    assert sum(journal.rewritten) < total_appended / 4
    assert len(journal.rewritten) < appended / 1000


def test_an_oversized_journal_from_before_is_compacted_once_on_the_first_append(tmp_path):
    path = tmp_path / "journal.jsonl"
    pad = "y" * 800
    with path.open("w") as fh:  # what the old journal left: ~9,000 finished jobs, ~54,000 lines
        for _ in range(9000):
            for snap in job_lines(Job(task="image"), pad):
                fh.write(json.dumps({"t": 1, "job": snap}) + "\n")
    assert path.stat().st_size > LIMIT
    journal = CountingJournal(path, max_bytes=LIMIT, keep_finished=50)
    for _ in range(100):
        journal.append(Job(task="image").snapshot())
    assert len(journal.rewritten) == 1, "one compaction, then plain appends"
    assert path.stat().st_size < LIMIT / 10
    assert sum(j["state"] == "done" for j in journal.latest().values()) == 50


def test_keep_finished_comes_from_the_settings(tmp_path):
    from genbridge.runtime import Runtime
    from genbridge.runtime.settings import Settings

    settings = Settings(data_dir=str(tmp_path / "data"), keep_finished_jobs=3)
    runtime = Runtime(settings=lambda: settings, emit=lambda e: None, reattach=False)
    try:
        journal = runtime.run(_journal_of).result(10)
        assert journal.keep_finished == 3
    finally:
        runtime.shutdown(2.0)


async def _journal_of(service):
    return service.journal
