"""The job list rows on the WindowManager (a UIList draws them) mirrored from the session's job cache.

Each row holds only a job id; everything else is drawn from the cache. Thread rule: main thread only. No bpy
import: the window manager is passed in, so tests use a fake.
"""

from __future__ import annotations

from typing import Any


def newest_first(jobs: dict[str, dict[str, Any]]) -> list[str]:
    return [j["id"] for j in sorted(jobs.values(), key=lambda j: j.get("created_at", 0.0), reverse=True)]


def active_job_id(wm: Any) -> str | None:
    """The job id of the list's active row, or None."""
    rows = getattr(wm, "genbridge_jobs", None)
    if not rows:
        return None
    index = min(max(wm.genbridge_job_index, 0), len(rows) - 1)
    return rows[index].job_id or None


def sync_job_list(wm: Any, jobs: dict[str, dict[str, Any]], *, select: str | None = None) -> None:
    """Mirror the job cache into the rows (newest first), keeping the selection, or selecting `select`."""
    rows = getattr(wm, "genbridge_jobs", None) if wm is not None else None
    if rows is None:
        return
    wanted = newest_first(jobs)
    selected = select or active_job_id(wm) or ""
    if [r.job_id for r in rows] != wanted:
        rows.clear()
        for job_id in wanted:
            rows.add().job_id = job_id
    index = wanted.index(selected) if selected in wanted else 0
    if wm.genbridge_job_index != index:
        wm.genbridge_job_index = index
