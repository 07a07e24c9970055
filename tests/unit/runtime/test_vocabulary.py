"""The stdlib job-state words (`runtime.vocabulary`, read by Blender's main thread) match the journaled `JobState`."""

from __future__ import annotations

from genbridge.runtime.jobs import TERMINAL_STATES, JobState
from genbridge.runtime.vocabulary import ACTIVE_STATES, FINISHED_STATES, STOPPED_STATES


def test_every_job_state_is_either_active_or_stopped():
    assert ACTIVE_STATES | STOPPED_STATES == {state.value for state in JobState}
    assert not ACTIVE_STATES & STOPPED_STATES


def test_finished_is_stopped_without_interrupted_and_terminal_is_stopped():
    assert STOPPED_STATES - FINISHED_STATES == {"interrupted"}
    assert {state.value for state in TERMINAL_STATES} == STOPPED_STATES
