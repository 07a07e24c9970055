"""Storyboard keyframes from the shot's camera: the scene's marker-bound cameras, and submitting keyframe specs
after their camera capture. Thread rule: main thread only (reads the scene, renders through `blender.capture`)."""

from __future__ import annotations

import logging
from typing import Any

from .plan import CAMERA_CAPTURE_KEY

log = logging.getLogger("genbridge.storyboard")


def marker_cameras(scene: Any) -> list[tuple[int, str]]:
    """(frame, camera name) of every timeline marker with a bound camera object, in frame order."""
    return sorted((m.frame, m.camera.name) for m in scene.timeline_markers if getattr(m, "camera", None) is not None)


def captured(session: Any, scene: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec ready to submit: a keyframe waiting for its camera gets the camera's render at the shot's first
    frame as its image input (in the job's folder, provenance in `captures`). If the capture fails, the keyframe
    falls back to text-to-image with the storyboard's keyframe template, and the log says why."""
    plan = spec.get(CAMERA_CAPTURE_KEY)
    if plan is None:
        return spec
    spec = {key: value for key, value in spec.items() if key != CAMERA_CAPTURE_KEY}
    from ..blender.capture import CaptureError

    current = scene.frame_current
    try:
        scene.frame_set(int(plan["frame"]))  # the camera as it stands at the shot's start (it may be animated)
        source = {
            "source": "camera",
            "scene": scene,
            "camera": plan["camera"],
            "width": plan["width"],
            "height": plan["height"],
        }
        return dict(session.with_captures(spec, {plan["param"]: source}))
    except CaptureError as exc:
        log.warning("keyframe %s: camera %s not captured (%s); made from text", spec.get("id"), plan["camera"], exc)
        return {**spec, "template": None}
    finally:
        scene.frame_set(current)


def submit_specs(session: Any, scene: Any, specs: list[dict[str, Any]]) -> None:
    """Submit the plan's specs in order, each keyframe after its camera capture (see `captured`)."""
    for spec in specs:
        session.submit(captured(session, scene, spec))
