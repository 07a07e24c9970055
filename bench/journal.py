"""Journal append cost: an empty journal vs one that already holds 9,000 finished jobs (issue 21.4).

Each job leaves about six snapshots of about 1 KB (6 KB per job), as real jobs do. Measured with the real file
system: every append is one write; compaction runs only after the file has grown by what it keeps, so its cost
is amortized over many appends. Prints the per-append figures, the ratio, and a JSON object on the last line.

    python bench/journal.py [--jobs 9000] [--appends 6000] [--old path/to/old/runtime/journal.py]

`--old` also times the previous implementation (any stdlib-only journal module with the same `Journal` class) on
the same 9,000-job file, for a before/after figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal

PAD = "p" * 560  # makes ~1 KB snapshots, ~6 KB per job


def snapshots(job: Job) -> list[dict]:
    job.inputs = {"prompt": PAD, "seed": 1}
    out = []
    for state in (JobState.SUBMITTED, JobState.RUNNING, JobState.RUNNING, JobState.DOWNLOADING, JobState.DONE):
        out.append(job.snapshot())
        job.move_to(state)
    out.append(job.snapshot())
    return out


def fill_old_style(path: Path, jobs: int) -> int:
    """Write what the old journal left after `jobs` finished jobs (it never dropped any)."""
    with path.open("w") as fh:
        for _ in range(jobs):
            for snap in snapshots(Job(task="image")):
                fh.write(json.dumps({"t": 1.0, "job": snap}, separators=(",", ":")) + "\n")
    return path.stat().st_size


def time_appends(journal: Journal, appends: int) -> list[float]:
    """Per-append wall time in microseconds for `appends` appends of real job snapshots."""
    todo = []
    while len(todo) < appends:
        todo.extend(snapshots(Job(task="image")))
    times = []
    for snap in todo[:appends]:
        t0 = time.perf_counter()
        journal.append(snap)
        times.append((time.perf_counter() - t0) * 1e6)
    return times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "mean_us": round(statistics.fmean(times), 1),
        "median_us": round(statistics.median(times), 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 1),
        "max_us": round(ordered[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=9000)
    parser.add_argument("--appends", type=int, default=20000)  # ~20 MB: compactions included
    parser.add_argument("--old", help="an older runtime/journal.py to time on the same 9,000-job file")
    args = parser.parse_args()
    old: dict | None = None
    with tempfile.TemporaryDirectory() as tmp:
        empty = Journal(Path(tmp) / "empty.jsonl")
        empty_times = time_appends(empty, args.appends)
        empty_compactions = empty.compactions

        full_path = Path(tmp) / "full.jsonl"
        old_bytes = fill_old_style(full_path, args.jobs)
        full = Journal(full_path)
        t0 = time.perf_counter()
        full.latest()  # what the service does at start (re-attach): reads and trims the old journal once
        load_ms = (time.perf_counter() - t0) * 1e3
        first = time_appends(full, 1)[0]  # the one compaction of the oversized file
        before = full.compactions
        full_times = time_appends(full, args.appends)
        full_compactions = full.compactions - before
        final_bytes = full_path.stat().st_size
        if args.old:
            spec = importlib.util.spec_from_file_location("old_journal", args.old)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            old_path = Path(tmp) / "old.jsonl"
            fill_old_style(old_path, args.jobs)
            old = summary(time_appends(module.Journal(old_path), 30))

    e, f = summary(empty_times), summary(full_times)
    result = {
        "jobs": args.jobs,
        "appends": args.appends,
        "empty": e,
        "with_9000_jobs": f,
        "compactions_during_appends": {"empty": empty_compactions, "with_9000_jobs": full_compactions},
        "ratio_mean": round(f["mean_us"] / e["mean_us"], 2),
        "ratio_median": round(f["median_us"] / e["median_us"], 2),
        "old_journal_mb": round(old_bytes / 2**20, 1),
        "start_read_ms": round(load_ms, 1),
        "first_append_compacts_ms": round(first / 1e3, 1),
        "journal_mb_after": round(final_bytes / 2**20, 2),
        "old_implementation_with_9000_jobs": old,
    }
    print(
        f"empty journal:    mean {e['mean_us']} us, median {e['median_us']} us, p99 {e['p99_us']} us, "
        f"max {e['max_us']} us"
    )
    print(
        f"with {args.jobs} jobs: mean {f['mean_us']} us, median {f['median_us']} us, p99 {f['p99_us']} us, "
        f"max {f['max_us']} us"
    )
    print(
        f"ratio (9,000 jobs / empty): mean {result['ratio_mean']}x, median {result['ratio_median']}x; "
        f"the {result['old_journal_mb']} MB old journal is read at start in {result['start_read_ms']} ms and "
        f"trimmed by the first append in {result['first_append_compacts_ms']} ms, then {result['journal_mb_after']} MB"
    )
    print(f"compactions during the timed appends: {empty_compactions} (empty), {full_compactions} (9,000 jobs)")
    if old is not None:
        print(
            f"old implementation with {args.jobs} jobs: median {old['median_us'] / 1e3:.1f} ms per append (30 appends)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
