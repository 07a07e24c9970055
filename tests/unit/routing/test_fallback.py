"""Fallback through the real job service: only failures another backend can fix move a job to the next step."""

from __future__ import annotations

import asyncio

from genbridge.routing import Router, should_fall_back
from genbridge.runtime import errors
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import JobService
from hypothesis import given, settings
from hypothesis import strategies as st

C0, W0 = "http://127.0.0.1:8188", "http://127.0.0.1:7866/mcp"
ERRORS = [
    errors.Unreachable,
    errors.ServiceTimeout,
    errors.RejectedInput,
    errors.OutOfMemory,
    errors.IncompatibleServer,
    errors.AuthError,
    errors.RateLimited,
    errors.ServerError,
    errors.OnlineAccessRefused,
    errors.ConfigError,
    errors.UnsafePath,
    errors.DownloadTooLarge,
]


async def _run_quick_preview(h, tmp_path, error):
    """Run one quick preview whose first choice (WanGP) fails with `error`; return the final job and clients."""
    settings = h.make_settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    clients = {}

    class Client(h.ScriptedClient):
        errors = {W0: error}

        def __init__(self, endpoint, s):
            super().__init__(endpoint, s)
            clients[endpoint.url] = self

    service = JobService(
        settings, lambda ev: None, Journal(tmp_path / "journal.jsonl"), router=Router(settings), client_factory=Client
    )
    from genbridge.runtime.jobs import Job

    job = Job(task="quick_preview", inputs={"width": 832, "height": 480, "frames": 33})
    service.submit(job)
    await asyncio.wait_for(service._tasks[job.id], 5)
    await service.shutdown()
    return job, clients


async def test_input_error_ends_the_job_without_trying_the_fallback(h, tmp_path):
    job, clients = await _run_quick_preview(h, tmp_path, errors.RejectedInput("frames must be 4k+1"))
    assert job.state.value == "failed" and job.error.code == "rejected_input"
    assert C0 not in clients
    assert len(job.plan) == 2  # the fallback existed; it was not used


async def test_unreachable_first_choice_falls_back_to_the_next_step(h, tmp_path):
    job, clients = await _run_quick_preview(h, tmp_path, errors.Unreachable("WanGP is not running"))
    assert job.state.value == "done" and job.instance == C0
    assert clients[C0].submitted == [job.id]


@settings(max_examples=len(ERRORS) * 2, deadline=None)
@given(error_class=st.sampled_from(ERRORS))
def test_job_service_falls_back_exactly_when_the_error_allows(h, tmp_path_factory, error_class):
    tmp_path = tmp_path_factory.mktemp("fb")
    job, clients = asyncio.run(_run_quick_preview(h, tmp_path, error_class("boom")))
    fell_back = C0 in clients and clients[C0].submitted == [job.id]
    assert fell_back == error_class.fallback_ok
    assert fell_back == should_fall_back(error_class("boom"), has_next=True)
    if not fell_back:
        assert job.error.code == error_class.code


def test_no_fallback_without_a_next_step():
    assert not should_fall_back(errors.Unreachable("x"), has_next=False)
    assert not should_fall_back(ValueError("not ours"), has_next=True)
