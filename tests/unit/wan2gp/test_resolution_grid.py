"""LTX-2 sizes in multiples of 64: a chosen size off the grid is refused naming the limit and the nearest valid
size; a size left open (or the model's default) moves to the nearest valid one and the change is recorded."""

from __future__ import annotations

import pytest
from genbridge.backends.wan2gp.models import ModelSchema
from genbridge.runtime.jobs import Job
from genbridge.standins.wan2gp.common import structured
from genbridge.workflows.wan2gp_rules import ModelLimits, prepare, resolution_multiple_for, snap_to_grid

LTX2 = ModelLimits(
    model_type="ltx2_22B_distilled",
    name="LTX-2 2.3 Distilled 1.0 22B",
    family="ltx2",
    resolution_multiple=resolution_multiple_for("ltx2", "ltx2_22B_distilled"),
)
WAN = ModelLimits(model_type="t2v", name="Wan2.1 Text2video 14B", family="wan")


def test_the_captured_ltx2_schema_gives_a_64_pixel_grid_and_wan_keeps_16():
    meta = structured("07_model_schema_ltx2_22B_distilled.json")["metadata"]
    assert ModelSchema.model_validate({"model_type": "ltx2_22B_distilled", **meta}).limits().resolution_multiple == 64
    meta = structured("07_model_schema_t2v.json")["metadata"]
    assert ModelSchema.model_validate({"model_type": "t2v", **meta}).limits().resolution_multiple == 16
    # a server that states its grid wins over the family rule
    assert resolution_multiple_for("ltx2", "ltx2_x", vae_block_size=32) == 32
    assert resolution_multiple_for("", "ltx2_distilled") == 64 and resolution_multiple_for("ltxv", "ltxv_13B") == 16


@pytest.mark.parametrize(
    ("width", "height", "near"),
    [
        (1280, 720, "1280x704"),
        (832, 480, "832x448"),
        (800, 608, "768x576"),
        (810, 600, "832x576"),
        (32, 96, "64x64"),
        (1920, 1088, "1920x1088"),
    ],
)
def test_snap_to_grid_takes_the_nearest_multiple_ties_down(width, height, near):
    assert snap_to_grid(width, height, 64) == near


@pytest.mark.parametrize("chosen", [["resolution"], ["width"], ["height", "steps"]])
def test_a_chosen_size_off_the_64_grid_is_refused_naming_the_limit_and_the_nearest(chosen):
    out = prepare({"prompt": "p", "resolution": "1280x720"}, LTX2, {"resolution": "1280x720"}, chosen)
    (problem,) = out.problems
    assert problem.field == "resolution" and problem.fix == {"resolution": "1280x704"}
    assert problem.message == (
        "1280x720 is not valid for LTX-2 2.3 Distilled 1.0 22B: width and height must be multiples of 64; "
        "the nearest valid size is 1280x704"
    )
    assert out.changes == []


def test_a_size_left_open_moves_to_the_grid_and_the_change_is_recorded():
    out = prepare({"prompt": "p", "width": 832, "height": 480}, LTX2, {}, chosen=["steps"])
    assert out.problems == [] and out.settings["resolution"] == "832x448"
    assert out.changes == ["resolution 832x480 -> 832x448: LTX-2 2.3 Distilled 1.0 22B needs multiples of 64"]
    assert out.input_updates == {"width": 832, "height": 448}


def test_the_models_own_default_off_the_grid_is_moved_and_said():
    out = prepare({"prompt": "p"}, LTX2, {"resolution": "1280x720"})
    assert out.settings["resolution"] == "1280x704" and out.input_updates == {}
    assert out.changes == [
        "resolution 1280x720 (the model's default) -> 1280x704: LTX-2 2.3 Distilled 1.0 22B needs multiples of 64"
    ]


def test_sizes_on_the_grid_and_other_families_are_unchanged():
    assert prepare({"prompt": "p", "resolution": "1280x704"}, LTX2, {}, ["resolution"]).changes == []
    out = prepare({"prompt": "p", "resolution": "832x480"}, WAN, {}, ["resolution"])
    assert out.problems == [] and out.changes == [] and out.settings["resolution"] == "832x480"


async def test_the_client_records_the_move_on_the_job_and_sends_the_valid_size(server, client):
    job = Job(task="video", inputs={"model": "ltx2_22B_distilled", "prompt": "p", "resolution": "832x480", "steps": 1})
    assert await client.validate(job) == []
    assert job.inputs["resolution"] == "832x448"
    assert "resolution 832x480 -> 832x448: LTX-2 2.3 Distilled 1.0 22B needs multiples of 64" in job.adjustments
    chosen = Job(task="video", inputs=dict(job.inputs, resolution="832x480"), chosen=["resolution"])
    (problem,) = await client.validate(chosen)
    assert "multiples of 64" in problem.message and problem.fix == {"resolution": "832x448"}
    assert server.generate_calls() == []
