"""Progress of one Comfy API v2 job: what the client keeps about it, and its stream events turned into GenBridge
events (progress snapshots, preview files). Loop thread only; pure but for writing a preview file.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ...runtime.errors import GenBridgeError
from ...runtime.events import BackendEvent, BackendPreview, BackendProgress
from ..http import decode_json
from .models import TERMINAL, V2Job, V2Progress

PREVIEW_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@dataclass
class Track:
    """What the client keeps about one remote job while it runs."""

    job_id: str
    graph: dict[str, Any]
    logs: list[str] = field(default_factory=list)
    final: V2Job | None = None
    fraction: float = 0.0  # of the whole job, from node-level progress (step-level events only name the step)


def progress_event(
    where: str, track: Track, status: str, progress: V2Progress | None, position: int | None
) -> BackendProgress:
    """The progress snapshot a job status (and its progress, when given) means; `where` names the endpoint."""
    if status == "queued":
        at = f" (position {position})" if position else ""
        return BackendProgress(fraction=0.0, phase=f"Waiting in the queue of {where}{at}", running=False)
    if progress is not None and progress.nodes_total:
        track.fraction = max(track.fraction, min(1.0, max(0.0, progress.value)))
    value = track.fraction
    phase = "Cancelling on Comfy API v2" if status == "canceling" else "Running on Comfy API v2"
    if progress and progress.steps:
        phase += f" (step {progress.step or 0}/{progress.steps})"
    return BackendProgress(fraction=value, phase=phase)


def stream_event(where: str, track: Track, name: str, data: str, previews: Path) -> BackendEvent | str | None:
    """One SSE event as a GenBridge event; "terminal" for the final status; None for what carries nothing."""
    try:
        payload = decode_json(data.encode(), service="Comfy API v2", what=f"'{name}' event")
    except GenBridgeError:
        return None  # one damaged frame costs nothing: every progress event is a full snapshot
    if not isinstance(payload, dict):
        return None
    if name == "status":
        status = str(payload.get("status") or "")
        if status in TERMINAL:
            return "terminal"
        position = payload.get("queue_position")
        return progress_event(where, track, status, None, position if isinstance(position, int) else None)
    if name == "progress":
        try:
            return progress_event(where, track, "running", V2Progress.model_validate(payload), None)
        except ValidationError:
            return None
    if name == "preview":
        return save_preview(previews, track, payload)
    return None  # `output` events: the outputs are read from GET /jobs/{id} once the job is finished


def save_preview(folder: Path, track: Track, payload: dict[str, Any]) -> BackendEvent | None:
    """A `preview` event's image written to `folder` (one file per job, overwritten), or None when unreadable."""
    ext = PREVIEW_TYPES.get(str(payload.get("content_type") or "image/jpeg"))
    raw = payload.get("data_base64")
    if ext is None or not isinstance(raw, str):
        return None
    try:
        image = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v2-{_safe_id(track.job_id)}.{ext}"
    path.write_bytes(image)
    return BackendPreview(path=str(path))


def _safe_id(job_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in job_id)[:80]
