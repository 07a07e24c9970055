"""Degradation changes only what the user left open (issue 17.1): a chosen model or frame count stays as chosen."""

from __future__ import annotations

from genbridge.routing import Router
from genbridge.runtime.jobs import Job

W0 = "http://127.0.0.1:7866/mcp"
ASKED = {"model": "t2v", "resolution": "320x192", "frames": 100001, "steps": 1, "prompt": "a fox"}


def _router(h, *, allow: bool = False) -> Router:
    router = Router(h.make_settings(comfyui=0))
    if allow:
        router.policy = router.policy.model_copy(update={"degrade_chosen": True})
    router.observe_probe(h.probe("wan2gp", W0, free=7.0, total=8.0))
    return router


def test_without_choices_a_video_is_made_lighter_by_model_and_frames(h):
    step = _router(h).plan(Job(task="video", inputs=dict(ASKED)))[0]
    assert step.inputs_override.get("model") == "t2v_1.3B" and step.inputs_override.get("frames") == 49
    assert any(c.startswith("frames 100001 -> 49") for c in step.changes)


def test_a_chosen_model_and_frame_count_are_never_degraded(h):
    job = Job(task="video", inputs=dict(ASKED), chosen=["model", "resolution", "frames", "steps"])
    step = _router(h).plan(job)[0]
    assert "model" not in step.inputs_override and "frames" not in step.inputs_override
    assert step.changes == ()
    assert step.service == "wan2gp"  # still planned; the client checks the model's own limits next


def test_the_policy_can_allow_changing_chosen_values_and_says_so(h):
    job = Job(task="video", inputs=dict(ASKED), chosen=["model", "frames"])
    step = _router(h, allow=True).plan(job)[0]
    assert step.inputs_override.get("frames") == 49 and any("frames 100001 -> 49" in c for c in step.changes)


def test_only_the_open_values_are_degraded_when_some_are_chosen(h):
    job = Job(task="video", inputs={**ASKED, "resolution": "1280x720"}, chosen=["model", "frames"])
    step = _router(h).plan(job)[0]
    assert "model" not in step.inputs_override and "frames" not in step.inputs_override
    assert all(not c.startswith(("model", "frames")) for c in step.changes)


def test_a_plan_left_heavy_because_of_choices_names_them(h):
    job = Job(task="video", inputs=dict(ASKED), chosen=["model", "resolution", "frames", "steps"])
    step = _router(h).plan(job)[0]
    assert "not made lighter, you chose frames, model, resolution, steps" in step.reason
    assert "degrade_chosen = true" in step.reason
    open_job = Job(task="video", inputs={**ASKED, "frames": 5, "resolution": "64x64"}, chosen=[])
    assert "you chose" not in _router(h).plan(open_job)[0].reason
