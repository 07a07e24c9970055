"""Graceful degradation: when a job does not fit anywhere, make it lighter step by step and say what changed.

The steps come from the task's `degrade` list in the policy (lower resolution, fewer steps or frames, a lighter
model); they apply cumulatively until the VRAM estimate fits. Every change is reported in words
("resolution 1280x720 -> 832x464") and as input overrides the job service applies before validating.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .policy import Complexity, DegradeStep, TaskPolicy, VramEstimate


@dataclass(frozen=True, slots=True)
class Degraded:
    """A lighter version of a job that fits: its complexity, new VRAM need, what changed and the new inputs."""

    complexity: Complexity
    need_gb: float
    changes: tuple[str, ...]
    overrides: dict[str, Any]


def _snap16(value: float) -> int:
    return max(16, int(value) // 16 * 16)


def _snap_frames(limit: int) -> int:
    """Largest 4k+1 frame count not above `limit` (Wan and Hunyuan need 4k+1)."""
    return max(1, (limit - 1) // 4 * 4 + 1)


def _apply(step: DegradeStep, c: Complexity) -> tuple[Complexity, str] | None:
    """One degradation step, or None when it would change nothing."""
    if step.kind == "scale" and step.factor is not None and c.width and c.height:
        short = min(c.width, c.height)
        factor = max(step.factor, (step.min or 0) / short) if short else step.factor
        w, h = _snap16(c.width * factor), _snap16(c.height * factor)
        if (w, h) == (c.width, c.height) or factor >= 1:
            return None
        return replace(c, width=w, height=h), f"resolution {c.width}x{c.height} -> {w}x{h}"
    if step.kind == "steps" and step.factor is not None:
        steps = max(step.min or 1, int(c.steps * step.factor))
        if steps >= c.steps:
            return None
        return replace(c, steps=steps), f"steps {c.steps} -> {steps}"
    if step.kind == "frames" and step.max is not None:
        frames = _snap_frames(step.max)
        if frames >= c.frames:
            return None
        return replace(c, frames=frames), f"frames {c.frames} -> {frames}"
    return None


# The input keys each kind of step changes: a step never touches what the user chose (`Job.chosen`).
STEP_KEYS = {
    "scale": frozenset({"resolution", "width", "height"}),
    "steps": frozenset({"steps", "num_inference_steps"}),
    "frames": frozenset({"frames", "video_length"}),
    "model": frozenset({"model"}),
}


def degrade_to_fit(
    task: TaskPolicy,
    service: str,
    complexity: Complexity,
    inputs: dict[str, Any],
    estimate: VramEstimate,
    need_of: Callable[[VramEstimate, Complexity], float],
    free_gb: float,
    locked: frozenset[str] = frozenset(),
) -> Degraded | None:
    """Apply the task's degradation steps (those for `service`) until the job fits in `free_gb`; None if never.

    Steps that would change a `locked` input key (one the user chose) are skipped.
    """
    c, est, model = complexity, estimate, None
    need = need_of(est, c)
    changes: list[str] = []
    for step in task.degrade:
        if STEP_KEYS.get(step.kind, frozenset()) & locked:
            continue
        if step.kind == "model":
            if step.service not in (None, service) or step.vram is None:
                continue
            new_c, new_est, current = c, step.vram, inputs.get("model")
            change = f"model {current} -> {step.model} (lighter)" if current else f"lighter model {step.model}"
        else:
            applied = _apply(step, c)
            if applied is None:
                continue
            (new_c, change), new_est = applied, est
        new_need = need_of(new_est, new_c)
        if new_need >= need:
            continue  # a change that saves no VRAM would only cost quality
        c, est, need = new_c, new_est, new_need
        model = step.model if step.kind == "model" else model
        changes.append(change)
        if need <= free_gb:
            return Degraded(c, need, tuple(changes), _overrides(inputs, complexity, c, model))
    return None


def _overrides(inputs: dict[str, Any], before: Complexity, after: Complexity, model: str | None) -> dict[str, Any]:
    """Input values to replace, using the keys the job itself used."""
    out: dict[str, Any] = {}
    if (before.width, before.height) != (after.width, after.height):
        if "resolution" in inputs:
            out["resolution"] = f"{after.width}x{after.height}"
        if "resolution" not in inputs or "width" in inputs:
            out["width"], out["height"] = after.width, after.height
    if before.steps != after.steps:
        steps_key = "num_inference_steps" if "num_inference_steps" in inputs and "steps" not in inputs else "steps"
        out[steps_key] = after.steps
    if before.frames != after.frames:
        out["video_length" if "video_length" in inputs and "frames" not in inputs else "frames"] = after.frames
    if model is not None:
        out["model"] = model
    return out
