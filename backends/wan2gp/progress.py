"""WanGP's job event ring turned into GenBridge progress and log events. Loop thread only; pure.

WanGP has no push: each poll re-reads the latest N events of the job's ring (stream lines flood it), so the
tracker skips what it already saw and keeps the bar monotonic.
"""

from __future__ import annotations

from ...runtime.events import BackendEvent, BackendLog, BackendProgress
from .models import JobEventRecord

PHASES = {
    "loading_model": "Loading model",
    "encoding_text": "Encoding the prompt",
    "decoding": "Decoding video",
    "downloading_output": "Saving the video",
    "cancelled": "Cancelling",
}


class ProgressTracker:
    """Turns the job's event ring (most recent N, polled repeatedly) into new progress and log events once each."""

    def __init__(self, start: float = 0.0) -> None:
        self.last_seen = 0.0
        self._at_last: set[tuple[str, str]] = set()
        self.fraction = start
        self.phase = ""

    def feed(self, events: list[JobEventRecord]) -> list[BackendEvent]:
        out: list[BackendEvent] = []
        for event in events:
            # The ring is re-read on every poll: skip what we saw (events sharing a timestamp are told apart).
            key = (event.kind, repr(event.data)[:120])
            if event.timestamp < self.last_seen or (event.timestamp == self.last_seen and key in self._at_last):
                continue
            if event.timestamp > self.last_seen:
                self.last_seen, self._at_last = event.timestamp, set()
            self._at_last.add(key)
            update = self._map(event)
            if isinstance(update, BackendLog):
                out.append(update)
            elif update is not None:
                fraction, phase = update
                fraction = max(self.fraction, fraction)
                if (fraction, phase) != (self.fraction, self.phase):
                    self.fraction, self.phase = fraction, phase
                    out.append(BackendProgress(fraction=fraction, phase=phase))
        return out

    def _map(self, event: JobEventRecord) -> tuple[float, str] | BackendLog | None:
        data = event.data
        if event.kind == "status" and isinstance(data, str):
            text = data.strip().rstrip(".")
            if "download" in text.lower():
                # First use of a model downloads many GB inside the job, with no progress: say so.
                return self.fraction, f"{text} (first use of a model can take a long time)"
            return self.fraction, text
        if event.kind in ("progress", "preview") and isinstance(data, dict):
            percent = float(data.get("progress") or 0)
            step, total = data.get("current_step"), data.get("total_steps")
            phase_key = str(data.get("phase") or "")
            if step and total:
                phase = f"Sampling step {step}/{total}"
            else:
                phase = PHASES.get(phase_key) or str(data.get("status") or phase_key or "Working")
            if phase_key == "loading_model" and "download" in str(data.get("raw_phase") or "").lower():
                phase = "Downloading model"
            return min(percent / 100.0, 0.99), phase
        if event.kind in ("info", "error"):
            if isinstance(data, dict):
                return BackendLog(message=f"WanGP {event.kind} ({data.get('stage', '')}): {data.get('message', '')}")
            return BackendLog(message=f"WanGP: {data}")
        return None
