"""The job service through the Runtime facade: cancel in every state, dependencies, shutdown, bad input."""

from __future__ import annotations

import json
import time

from genbridge.runtime import Runtime
from genbridge.runtime.settings import Settings


def make_runtime(tmp_path, factory):
    events = []
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    rt = Runtime(settings=lambda: settings, emit=events.append, client_factory=factory)
    return rt, events


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_cancel_a_job_waiting_for_its_dependency_never_reaches_the_server(tmp_path, scripted):
    clients = []

    def factory(ep, s):
        client = scripted(ep, s, hang=True)
        clients.append(client)
        return client

    rt, _ = make_runtime(tmp_path, factory)
    first = rt.submit({"task": "image", "requested_service": "comfyui"})
    second = rt.submit(
        {
            "task": "quick_preview",
            "requested_service": "comfyui",
            "depends_on": [first.job_id],
            "inputs": {"start_image": {"$output_of": first.job_id}},
        }
    )
    wait_for(lambda: clients and clients[0].submitted == [first.job_id])
    second.cancel()
    assert second.done.result(timeout=5)["state"] == "cancelled"
    assert second.job_id not in clients[0].submitted
    first.cancel()
    assert first.done.result(timeout=5)["state"] == "cancelled"
    assert clients[0].cancelled == [first.job_id], "a running job is cancelled on the server too"
    rt.shutdown()


def test_a_dependent_job_gets_the_output_path_of_the_job_it_waits_for(tmp_path, scripted):
    rt, _ = make_runtime(tmp_path, lambda ep, s: scripted(ep, s))
    first = rt.submit({"task": "image", "requested_service": "comfyui"})
    second = rt.submit(
        {
            "task": "image",
            "requested_service": "comfyui",
            "depends_on": [first.job_id],
            "inputs": {"start_image": {"$output_of": first.job_id}},
        }
    )
    result = second.done.result(timeout=5)
    assert result["state"] == "done"
    assert result["inputs"]["start_image"] == first.done.result()["outputs"][0]
    rt.shutdown()


def test_unknown_task_fails_with_a_message_and_is_not_lost(tmp_path, scripted):
    rt, _ = make_runtime(tmp_path, lambda ep, s: scripted(ep, s))
    result = rt.submit({"task": "sculpt"}).done.result(timeout=5)
    assert result["state"] == "failed"
    assert "sculpt" in result["error"]["message"]
    journal = (tmp_path / "data" / "journal.jsonl").read_text().splitlines()
    assert any(json.loads(line)["job"]["id"] == result["id"] for line in journal)
    rt.shutdown()


def test_malformed_spec_fails_cleanly_instead_of_killing_the_loop(tmp_path, scripted):
    rt, _ = make_runtime(tmp_path, lambda ep, s: scripted(ep, s))
    bad = rt.submit({"task": "image", "inputs": "not a mapping"}).done.result(timeout=5)
    assert bad["state"] == "failed"
    good = rt.submit({"task": "image", "requested_service": "comfyui"}).done.result(timeout=5)
    assert good["state"] == "done"
    rt.shutdown()


def test_shutdown_journals_running_jobs_as_interrupted_and_joins_the_thread(tmp_path, scripted):
    rt, _ = make_runtime(tmp_path, lambda ep, s: scripted(ep, s, hang=True))
    handles = [rt.submit({"task": "image", "requested_service": "comfyui"}) for _ in range(5)]
    wait_for(
        lambda: (
            rt.service is not None
            and all(rt.service.jobs.get(h.job_id) and rt.service.jobs[h.job_id].state == "submitted" for h in handles)
        )
    )
    thread = rt.thread
    assert rt.shutdown(1.0)
    assert not thread.is_alive()
    latest = {}
    for line in (tmp_path / "data" / "journal.jsonl").read_text().splitlines():
        job = json.loads(line)["job"]
        latest[job["id"]] = job
    assert {latest[h.job_id]["state"] for h in handles} == {"interrupted"}
    assert all(latest[h.job_id]["remote_ids"] for h in handles), "remote ids are kept for re-attaching"


def test_a_missing_dependency_fails_jobs_with_a_fix_instead_of_hanging(tmp_path, scripted, monkeypatch):
    import genbridge.runtime.deps as deps

    monkeypatch.setattr(
        deps,
        "check_dependencies",
        lambda: ["GenBridge needs pydantic, but it is missing: reinstall the GenBridge zip."],
    )
    rt, events = make_runtime(tmp_path, lambda ep, s: scripted(ep, s))
    result = rt.submit({"task": "image"}).done.result(timeout=5)
    assert result["state"] == "failed"
    assert result["error"]["code"] == "missing_dependency"
    assert "pydantic" in result["error"]["message"]
    assert "Reinstall" in result["error"]["hint"]
    assert [e.problems for e in events if e.kind == "dependencies"] == [
        ("GenBridge needs pydantic, but it is missing: reinstall the GenBridge zip.",)
    ]
    rt.shutdown()
