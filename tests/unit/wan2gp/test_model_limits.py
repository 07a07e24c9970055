"""Every limit the model's schema gives is checked before anything is sent (issue 17.2), and changes are recorded."""

from __future__ import annotations

import pytest
from genbridge.workflows.wan2gp_rules import ModelLimits, prepare


async def test_frames_over_the_models_limit_are_refused_naming_the_limit_and_the_nearest_valid_count(
    server, client, job_factory
):
    problems = await client.validate(job_factory(frames=401))
    assert [p.field for p in problems] == ["frames"]
    assert "limit of 97" in problems[0].message and "nearest valid count is 97" in problems[0].message
    assert problems[0].fix == {"frames": 97}
    assert server.generate_calls() == []


async def test_an_absurd_frame_count_is_refused_not_swapped(server, client, job_factory):
    job = job_factory(frames=100001)
    problems = await client.validate(job)
    assert problems and problems[0].fix == {"frames": 97}
    assert job.inputs["frames"] == 100001 and job.adjustments == []


async def test_a_frame_count_off_the_grid_is_snapped_and_recorded_on_the_job(server, client, job_factory):
    job = job_factory(frames=80)
    assert await client.validate(job) == []
    assert job.inputs["frames"] == 81
    assert job.adjustments == ["frames 80 -> 81: Wan2.1 Text2video 14B needs 4k+1 (at least 5) frames"]


def test_a_longer_clip_in_sliding_windows_is_allowed_when_asked_for():
    limits = ModelLimits("t2v", frames_minimum=5, frames_steps=4, frames_maximum=97, sliding_window=True)
    prepared = prepare({"prompt": "x", "frames": 401, "settings": {"sliding_window_size": 81}}, limits, {})
    assert prepared.problems == [] and prepared.settings["video_length"] == 401


@pytest.mark.parametrize(
    "steps, field_message",
    [(0, "outside t2v's range (1 to 50); the nearest valid value is 1"), (80, "the nearest valid value is 50")],
)
def test_steps_outside_the_schemas_range_are_refused(steps, field_message):
    limits = ModelLimits("t2v", steps_minimum=1, steps_maximum=50)
    problems = prepare({"prompt": "x", "steps": steps}, limits, {}).problems
    assert [p.field for p in problems] == ["steps"] and field_message in problems[0].message


def test_a_resolution_not_among_the_models_choices_is_refused_with_the_nearest_choice():
    limits = ModelLimits("ltx2", resolutions=("1280x704", "832x480"))
    problems = prepare({"prompt": "x", "resolution": "848x480"}, limits, {}).problems
    assert problems[0].fix == {"resolution": "832x480"} and "not one of ltx2's resolutions" in problems[0].message


def test_the_schema_fields_for_steps_and_resolutions_are_read_when_a_server_gives_them():
    from genbridge.backends.wan2gp.models import ModelSchema

    schema = ModelSchema.model_validate(
        {"model_type": "x", "resolution_choices": ["832x480"], "num_inference_steps_max": 40}
    )
    assert schema.limits().resolutions == ("832x480",) and schema.limits().steps_maximum == 40
