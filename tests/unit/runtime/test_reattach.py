"""Re-attaching after a restart: a new Runtime on the same data dir resumes the journal's unfinished jobs on the
servers that still have them, fails clearly the ones they lost, and leaves finished jobs alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from genbridge.runtime import Runtime
from genbridge.runtime.jobs import Job, JobState, Target
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import REATTACHED
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.standins.comfyui import ComfyUIStandIn
from genbridge.standins.wan2gp import Wan2GPStandIn

TERMINAL = ("done", "failed", "cancelled")
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "reattach/img"}},
}


class Recorder:
    """Collects the runtime's events (emitted on the loop thread) and waits on them from the test thread."""

    def __init__(self) -> None:
        self.events: list = []
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, job_id: str, kind: str | None = None) -> list:
        with self._lock:
            return [e for e in self.events if e.job_id == job_id and (kind is None or e.kind == kind)]

    def wait_state(self, job_id: str, states, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.of(job_id, "state"):
                if event.state in states:
                    return event
            time.sleep(0.01)
        raise AssertionError(f"job {job_id} never reached {states}: {[e.state for e in self.of(job_id, 'state')]}")


def make_settings(tmp_path: Path, **endpoints) -> Settings:
    return Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        timeouts=Timeouts(connect=2.0, request=5.0, silence=5.0, download=10.0),
        **endpoints,
    )


def journal_of(settings: Settings) -> Journal:
    return Journal(settings.data_path / "journal.jsonl")


def start_runtime(settings: Settings, recorder: Recorder) -> Runtime:
    """A runtime whose service starts now (and so re-attaches now), as after Blender's restart."""
    runtime = Runtime(settings=lambda: settings, emit=recorder)
    assert runtime.resume() or not journal_of(settings).path.exists()
    runtime.run(_noop).result(10)  # the service exists (and has re-attached) once this returns
    return runtime


async def _noop(service) -> None:
    return None


def journal_job(settings: Settings, **fields) -> dict:
    """Write a job snapshot into the journal as an earlier session would have left it."""
    snapshot = Job(**fields).snapshot()
    journal_of(settings).append(snapshot)
    return snapshot


# -- ComfyUI ------------------------------------------------------------------------------------------------------
@pytest.fixture
def comfyui(tmp_path):
    with ComfyUIStandIn(root=tmp_path / "comfy", node_delay=0.6).running_in_thread() as server:
        yield server


def interrupt_a_running_comfyui_job(settings: Settings) -> str:
    """Submit an image job, let it run on the slow stand-in, then shut the runtime down mid-job."""
    first = Recorder()
    runtime = Runtime(settings=lambda: settings, emit=first)
    handle = runtime.submit(
        {
            "task": "image",
            "requested_service": "comfyui",
            "inputs": {"workflow": GRAPH, "prompt": "a paper boat"},
            "target": {"kind": "image", "name": "Boat"},
        }
    )
    first.wait_state(handle.job_id, ("running",))
    assert runtime.shutdown(2.0)
    latest = journal_of(settings).latest()[handle.job_id]
    assert latest["state"] == "interrupted" and latest["remote_ids"], latest
    return handle.job_id


@pytest.mark.parametrize("finished_while_closed", [False, True], ids=["still-running", "finished-while-closed"])
def test_a_comfyui_job_interrupted_mid_run_is_finished_by_the_next_runtime(tmp_path, comfyui, finished_while_closed):
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=comfyui.url)])
    job_id = interrupt_a_running_comfyui_job(settings)
    if finished_while_closed:
        deadline = time.monotonic() + 20
        while job_id not in comfyui.history:
            assert time.monotonic() < deadline, "the stand-in never finished the job"
            time.sleep(0.02)

    second = Recorder()
    runtime = start_runtime(settings, second)
    try:
        final = second.wait_state(job_id, TERMINAL).job
        assert final["state"] == "done", final.get("error")
        first_state = second.of(job_id, "state")[0]
        assert first_state.phase == REATTACHED, "the job list shows the job again, saying why"
        assert first_state.state == "submitted" and first_state.job["finished_at"] is None
        assert first_state.job["target"] == {**Target(kind="image", name="Boat").model_dump()}
        assert first_state.job["inputs"]["prompt"] == "a paper boat"
        assert any(REATTACHED in (e.text or "") for e in second.of(job_id, "log"))
        outputs = [e.path for e in second.of(job_id, "output")]
        assert outputs and all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in outputs)
        assert Path(settings.output_path) in Path(outputs[0]).parents
        assert journal_of(settings).latest()[job_id]["state"] == "done"
        posted = [path for method, path in comfyui.requests if method == "POST" and path.endswith("/prompt")]
        assert len(posted) == 1, "re-attaching follows the job; it never sends it again"
    finally:
        assert runtime.shutdown(2.0)


def test_a_comfyui_job_lost_in_a_server_restart_fails_with_a_clear_message(tmp_path, comfyui):
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=comfyui.url)])
    job_id = interrupt_a_running_comfyui_job(settings)
    comfyui.call(comfyui.kill())
    comfyui.call(comfyui.restart())

    second = Recorder()
    runtime = start_runtime(settings, second)
    try:
        final = second.wait_state(job_id, TERMINAL).job
        assert final["state"] == "failed"
        assert final["error"]["message"] == "ComfyUI was restarted and lost this job; generate again."
        assert "Retry" in final["error"]["hint"]
        assert final["target"]["name"] == "Boat", "the failed row still says where the result was meant to go"
        assert second.of(job_id, "state")[0].phase == REATTACHED
    finally:
        assert runtime.shutdown(2.0)


# -- WanGP -------------------------------------------------------------------------------------------------------
def test_a_wan2gp_job_is_re_attached_by_its_server_job_id_and_completes(tmp_path):
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.05)
    with standin.run_in_thread() as url:
        settings = make_settings(tmp_path, wan2gp=[Endpoint(service="wan2gp", url=url)])
        first = Recorder()
        runtime = Runtime(settings=lambda: settings, emit=first)
        handle = runtime.submit(
            {
                "task": "video",
                "requested_service": "wan2gp",
                "inputs": {"model": "t2v", "prompt": "a paper boat", "steps": 40, "frames": 17},
                # A storyboard clip: its planned length (frames) must survive the restart (issue 23.1).
                "target": {"kind": "movie_strip", "channel": 3, "frame_start": 25, "duration": 48},
            }
        )
        first.wait_state(handle.job_id, ("running",))
        assert runtime.shutdown(2.0)
        remote = journal_of(settings).latest()[handle.job_id]["remote_ids"][url]
        assert not remote.startswith("local:") and remote in standin.jobs

        second = Recorder()
        runtime = start_runtime(settings, second)
        try:
            final = second.wait_state(handle.job_id, TERMINAL, timeout=30).job
            assert final["state"] == "done", final.get("error")
            assert final["target"]["channel"] == 3 and final["target"]["frame_start"] == 25
            assert final["target"]["duration"] == 48, "landing reads the planned length from the journaled job"
            (output,) = [Path(e.path) for e in second.of(handle.job_id, "output")]
            assert output.suffix == ".mp4" and output.stat().st_size > 0
            assert len(standin.generate_calls()) == 1, "re-attaching polls the job; it never generates it again"
        finally:
            assert runtime.shutdown(2.0)


@pytest.mark.parametrize(
    ("remote_id", "message"),
    [
        ("local:never-sent", "Blender closed before WanGP started this job, so it never ran; generate again."),
        ("0123456789abcdef", "WanGP was restarted and lost this job; generate again."),
    ],
    ids=["never-reached-the-server", "unknown-to-the-server"],
)
def test_a_wan2gp_job_the_server_does_not_have_fails_clearly(tmp_path, remote_id, message):
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp")
    with standin.run_in_thread() as url:
        settings = make_settings(tmp_path, wan2gp=[Endpoint(service="wan2gp", url=url)])
        job = journal_job(
            settings,
            task="video",
            inputs={"model": "t2v", "prompt": "boat"},
            service="wan2gp",
            instance=url,
            remote_ids={url: remote_id},
            state=JobState.INTERRUPTED,
        )
        recorder = Recorder()
        runtime = start_runtime(settings, recorder)
        try:
            final = recorder.wait_state(job["id"], TERMINAL).job
            assert final["state"] == "failed"
            assert final["error"]["message"] == message
            assert standin.generate_calls() == []
        finally:
            assert runtime.shutdown(2.0)


# -- LiteLLM and jobs that must not be touched --------------------------------------------------------------------
def test_a_text_job_cut_off_by_the_restart_fails_with_its_message(tmp_path):
    url = "http://127.0.0.1:9"  # nothing listens: the text job must fail without a network call
    settings = make_settings(tmp_path, litellm=[Endpoint(service="litellm", url=url)])
    job = journal_job(
        settings,
        task="text",
        inputs={"prompt": "a logline"},
        target=Target(kind="text", name="Logline"),
        service="litellm",
        instance=url,
        remote_ids={url: "call-1"},
        state=JobState.RUNNING,  # Blender crashed: the journal never heard of the interruption
        text="Once upon",
    )
    recorder = Recorder()
    runtime = start_runtime(settings, recorder)
    try:
        final = recorder.wait_state(job["id"], TERMINAL).job
        assert final["state"] == "failed"
        assert final["error"]["message"] == "Blender closed while this text was being written; generate again."
        assert final["text"] == "Once upon", "the partial text is kept"
    finally:
        assert runtime.shutdown(2.0)


def test_finished_jobs_are_not_touched(tmp_path):
    url = "http://127.0.0.1:9"
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=url)])
    untouched = [
        journal_job(settings, task="image", service="comfyui", instance=url, remote_ids={url: "x"}, state=state)
        for state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)
    ]
    before = journal_of(settings).path.read_text()
    clients = []
    recorder = Recorder()
    runtime = Runtime(settings=lambda: settings, emit=recorder, client_factory=lambda ep, s: clients.append(ep))
    assert runtime.resume(), "a journal exists, so the runtime starts to look at it"
    try:
        assert runtime.run(lambda service: _jobs_of(service)).result(10) == {}
        assert [e for job in untouched for e in recorder.of(job["id"])] == []
        assert clients == []
        assert journal_of(settings).path.read_text() == before
    finally:
        assert runtime.shutdown(2.0)


async def _jobs_of(service) -> dict:
    return dict(service.jobs)


def test_resume_without_a_journal_does_not_start_the_runtime(tmp_path):
    runtime = Runtime(settings=lambda: {"data_dir": str(tmp_path / "data")}, emit=lambda event: None)
    assert runtime.resume() is False
    assert not runtime.started and runtime.thread is None
