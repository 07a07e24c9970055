"""After a crash every unfinished job of the journal comes back visibly: followed, sent again, or failed saying why.

None stays `queued`. Jobs cut off while being sent are looked up on the server by the id journaled before the
request. An unreachable server is retried with backoff (an injected clock: no waiting on the wall clock)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import pytest
from genbridge.runtime.errors import Unreachable
from genbridge.runtime.events import JobEvent
from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import REATTACHED, RESUBMITTED, UNREADABLE, JobService
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.comfyui import ComfyUIStandIn

from .conftest import ScriptedClient
from .test_reattach import GRAPH, TERMINAL, Recorder, journal_job, journal_of, make_settings, start_runtime

URL = "http://127.0.0.1:9"  # never contacted: the scripted client stands in for the server


def scripted_settings(tmp_path: Path, **timeouts: float) -> Settings:
    return Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        comfyui=[Endpoint(service="comfyui", url=URL)],
        timeouts=Timeouts(**{"connect": 1.0, "request": 1.0, "silence": 5.0, **timeouts}),
    )


class FollowingClient(ScriptedClient):
    """A scripted client that can re-attach; `unreachable_for` re-attach calls fail as if the server were down."""

    unreachable_for = 0
    reattached: list[str] = []

    async def reattach(self, job):
        if FollowingClient.unreachable_for:
            FollowingClient.unreachable_for -= 1
            raise Unreachable(f"Could not connect to ComfyUI at {self.endpoint.url}.", service="comfyui")
        FollowingClient.reattached.append(job.id)


@pytest.fixture(autouse=True)
def _reset_client():
    FollowingClient.unreachable_for, FollowingClient.reattached = 0, []


def run_service(settings: Settings, *, clock=None, sleep=None) -> tuple[JobService, list]:
    """Start a job service on a fresh loop as after a restart; return it and its events once every job ended."""
    events: list = []

    async def main() -> JobService:
        kwargs = {} if clock is None else {"clock": clock, "sleep": sleep}
        service = JobService(
            settings,
            events.append,
            Journal(settings.data_path / "journal.jsonl"),
            client_factory=lambda ep, s: FollowingClient(ep, s),
            **kwargs,
        )
        service.reattach_journaled()
        await asyncio.wait_for(asyncio.gather(*service._tasks.values(), return_exceptions=True), 20)
        return service

    return asyncio.run(main()), events


def final_state(events: list, job_id: str) -> dict:
    states = [e for e in events if isinstance(e, JobEvent) and e.job_id == job_id and e.kind == "state"]
    assert states, f"job {job_id} never came back"
    return states[-1].job


def test_every_unfinished_job_comes_back_and_none_stays_queued(tmp_path):
    settings = scripted_settings(tmp_path)
    common = {"task": "image", "requested_service": "comfyui"}
    # A keyframe running on the server, and the clip that waits for it (the storyboard chain).
    running = journal_job(
        settings, **common, service="comfyui", instance=URL, remote_ids={URL: "r-1"}, state=JobState.RUNNING
    )
    clip = journal_job(
        settings, **common, depends_on=[running["id"]], inputs={"image": {"$output_of": running["id"], "index": 0}}
    )
    # A parent that had already finished before the crash: its dependent simply runs with its output.
    done_parent = Job(**common, state=JobState.DONE, outputs=[str(tmp_path / "kept.png")]).snapshot()
    journal_of(settings).append(done_parent)
    after_done = journal_job(
        settings, **common, depends_on=[done_parent["id"]], inputs={"image": {"$output_of": done_parent["id"]}}
    )
    # A parent that failed: its dependent fails saying why.
    failed = Job(**common, state=JobState.FAILED).snapshot()
    failed["error"] = {"code": "out_of_memory", "message": "ComfyUI ran out of memory.", "hint": "", "service": ""}
    journal_of(settings).append(failed)
    orphan = journal_job(settings, **common, depends_on=[failed["id"]])
    # Closed before it was sent (20 of these after a disable in the issue), and an unreadable line.
    never_sent = journal_job(settings, **common, state=JobState.INTERRUPTED)
    broken = {**Job(**common).snapshot(), "state": "interrupted", "plan": "not a plan"}
    journal_of(settings).append(broken)

    _service, events = run_service(settings)

    assert FollowingClient.reattached == [running["id"]]
    assert final_state(events, running["id"])["state"] == "done"
    assert next(e.phase for e in events if e.job_id == running["id"] and e.kind == "state") == REATTACHED
    clip_final = final_state(events, clip["id"])
    assert clip_final["state"] == "done"
    assert clip_final["inputs"]["image"] == final_state(events, running["id"])["outputs"][0]
    assert final_state(events, after_done["id"])["inputs"]["image"] == done_parent["outputs"][0]
    orphan_final = final_state(events, orphan["id"])
    assert orphan_final["state"] == "failed"
    assert "did not finish: ComfyUI ran out of memory." in orphan_final["error"]["message"]
    assert final_state(events, never_sent["id"])["state"] == "done"
    first = next(e for e in events if e.job_id == never_sent["id"] and e.kind == "state")
    assert first.phase == RESUBMITTED and first.state == "queued"
    assert any("queued again" in (e.text or "") for e in events if e.job_id == never_sent["id"])
    broken_final = final_state(events, broken["id"])
    assert broken_final["state"] == "failed" and broken_final["error"]["message"] == UNREADABLE

    latest = journal_of(settings).latest()
    for job in (running, clip, after_done, orphan, never_sent, broken):
        assert latest[job["id"]]["state"] in TERMINAL, latest[job["id"]]
    assert done_parent["id"] not in {e.job_id for e in events}, "a finished parent is not shown again"


def test_the_journal_says_about_to_send_with_the_remote_id_before_the_request(tmp_path):
    settings = scripted_settings(tmp_path)
    seen: list[dict] = []

    class Planned(FollowingClient):
        def remote_id_for(self, job):
            return job.id

        async def submit(self, job):
            seen.append(journal_of(settings).latest()[job.id])  # what a crash right now would leave behind
            return await super().submit(job)

    async def main() -> None:
        service = JobService(
            settings, lambda e: None, Journal(settings.data_path / "journal.jsonl"), client_factory=Planned
        )
        job = Job(task="image", requested_service="comfyui")
        service.submit(job)
        await asyncio.wait_for(service._tasks[job.id], 10)

    asyncio.run(main())
    (during,) = seen
    assert during["state"] == "submitted" and during["sending"] == {URL: during["id"]}
    (after,) = journal_of(settings).latest().values()
    assert after["state"] == "done" and after["sending"] == {}


def test_a_send_cut_off_on_a_server_that_names_its_own_jobs_fails_saying_why(tmp_path):
    settings = scripted_settings(tmp_path)
    job = journal_job(
        settings, task="video", service="comfyui", instance=URL, sending={URL: ""}, state=JobState.SUBMITTED
    )
    _, events = run_service(settings)
    final = final_state(events, job["id"])
    assert final["state"] == "failed"
    assert "cannot tell whether" in final["error"]["message"] and "Retry" in final["error"]["hint"]


# -- waiting for a server to come back (21.5) ---------------------------------------------------------------------
class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def interrupted_job(settings: Settings) -> dict:
    return journal_job(
        settings, task="image", service="comfyui", instance=URL, remote_ids={URL: "r"}, state=JobState.INTERRUPTED
    )


def test_re_attach_waits_for_a_server_that_comes_back(tmp_path):
    settings = scripted_settings(tmp_path, reattach=60)
    job = interrupted_job(settings)
    FollowingClient.unreachable_for = 4
    fake = FakeTime()
    _, events = run_service(settings, clock=fake.clock, sleep=fake.sleep)
    assert final_state(events, job["id"])["state"] == "done"
    assert fake.sleeps == [0.5, 1.0, 2.0, 4.0], "backoff doubles between tries"
    phases = {e.phase for e in events if e.job_id == job["id"] and e.kind == "progress"}
    assert "Waiting for ComfyUI at 127.0.0.1:9 to come back" in phases
    notes = [e.text for e in events if e.job_id == job["id"] and e.kind == "log"]
    assert sum("not reachable yet" in n for n in notes) == 1, "said once, not on every try"


def test_re_attach_gives_up_after_the_bounded_wait_and_says_so(tmp_path):
    settings = scripted_settings(tmp_path, reattach=30)
    job = interrupted_job(settings)
    FollowingClient.unreachable_for = 10_000
    fake = FakeTime()
    _, events = run_service(settings, clock=fake.clock, sleep=fake.sleep)
    final = final_state(events, job["id"])
    assert final["state"] == "failed"
    assert final["error"]["message"].startswith(
        "ComfyUI at 127.0.0.1:9 did not come back within 30 s after the restart"
    )
    assert "Retry" in final["error"]["hint"]
    assert sum(fake.sleeps) <= 30 and max(fake.sleeps) <= 10


# -- a real ComfyUI stand-in: a kill between POST /prompt and journaling its id (21.2) ----------------------------
@pytest.fixture
def comfyui(tmp_path):
    with ComfyUIStandIn(root=tmp_path / "comfy", node_delay=0.05).running_in_thread() as server:
        yield server


def post_prompt(url: str, prompt_id: str) -> None:
    body = json.dumps({"prompt": GRAPH, "client_id": "killed-client", "prompt_id": prompt_id}).encode()
    request = urllib.request.Request(f"{url}/prompt", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 200


@pytest.mark.parametrize("received", [True, False], ids=["server-got-it", "never-arrived"])
def test_a_job_cut_off_while_being_sent_is_found_or_sent_again(tmp_path, comfyui, received):
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=comfyui.url)])
    job = Job(
        task="image",
        requested_service="comfyui",
        service="comfyui",
        instance=comfyui.url,
        inputs={"workflow": GRAPH},
        state=JobState.SUBMITTED,
        phase="Sending to ComfyUI",
    )
    job.sending = {comfyui.url: job.id}  # journaled before the request; the process died before the answer
    journal_of(settings).append(job.snapshot())
    if received:
        post_prompt(comfyui.url, job.id)

    recorder = Recorder()
    runtime = start_runtime(settings, recorder)
    try:
        final = recorder.wait_state(job.id, TERMINAL).job
        assert final["state"] == "done", final.get("error")
        outputs = [e.path for e in recorder.of(job.id, "output")]
        assert outputs and all(Path(p).is_file() for p in outputs)
        posted = [path for method, path in comfyui.requests if method == "POST" and path.endswith("/prompt")]
        assert len(posted) == 1, "sent exactly once in all"
        notes = " ".join(e.text or "" for e in recorder.of(job.id, "log"))
        assert ("received this job just before Blender closed" in notes) == received
        assert ("never received it; sending it again" in notes) == (not received)
    finally:
        assert runtime.shutdown(2.0)


def test_re_attach_reaches_a_real_comfyui_that_starts_late(tmp_path):
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=url)])
    job = journal_job(
        settings,
        task="image",
        service="comfyui",
        instance=url,
        remote_ids={url: "5a0e4d2c-0000-4000-8000-00000000000a"},
        state=JobState.RUNNING,
    )
    recorder = Recorder()
    runtime = start_runtime(settings, recorder)  # ComfyUI is not up yet
    try:
        deadline = time.monotonic() + 20
        while not any("to come back" in (e.phase or "") for e in recorder.of(job["id"], "progress")):
            assert time.monotonic() < deadline, "never said it was waiting"
            time.sleep(0.02)
        with ComfyUIStandIn(root=tmp_path / "comfy", port=port).running_in_thread():
            final = recorder.wait_state(job["id"], TERMINAL, timeout=30).job
        phases = [e.phase for e in recorder.of(job["id"], "progress")]
        assert f"Waiting for ComfyUI at 127.0.0.1:{port} to come back" in phases
        # It got through once the server was up: a fresh server never had the job, and says so.
        assert final["state"] == "failed"
        assert final["error"]["message"] == "ComfyUI was restarted and lost this job; generate again."
    finally:
        assert runtime.shutdown(2.0)
