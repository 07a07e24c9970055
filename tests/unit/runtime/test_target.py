"""The journaled target is the one record landing reads (issue 23.1): nothing it needs is dropped, nothing
unknown slips through."""

from __future__ import annotations

import pytest
from genbridge import storyboard as sb
from genbridge.runtime.jobs import Job, Target
from pydantic import ValidationError


def test_every_field_the_storyboard_puts_in_a_target_survives_the_job_model():
    shots = [sb.Shot("a lighthouse at night", 3.5, "wide", [], "a lighthouse")]
    for spec in sb.plan_storyboard(shots, group="g", scene="Scene", options=sb.StoryboardOptions(fps=24)):
        job = Job.model_validate({**spec, "id": "x"})
        assert job.snapshot()["target"] == {**Target().model_dump(), **spec["target"]}
        assert job.target.duration == 84


def test_an_unknown_target_field_is_an_error_that_names_it():
    with pytest.raises(ValidationError, match="frame_end"):
        Job.model_validate({"task": "image", "target": {"kind": "image_strip", "frame_end": 12}})
