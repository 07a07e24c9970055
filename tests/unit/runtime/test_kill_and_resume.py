"""A real SIGKILL (no shutdown, nothing journaled on the way out): a keyframe running on ComfyUI and the clip queued
behind it both finish after the next start, each sent exactly once, and the journal ends with no job unfinished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from genbridge.runtime.settings import Endpoint
from genbridge.standins.comfyui import ComfyUIStandIn

from .test_reattach import GRAPH, TERMINAL, Recorder, journal_of, make_settings, start_runtime

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from genbridge.runtime import Runtime
    from genbridge.runtime.settings import Settings

    settings = Settings.model_validate_json(sys.argv[1])
    graph, other = json.loads(sys.argv[2]), json.loads(sys.argv[3])

    def emit(event):
        if getattr(event, "kind", "") == "state":
            print(json.dumps({"job": event.job_id, "state": event.state}), flush=True)

    runtime = Runtime(settings=lambda: settings, emit=emit, reattach=False)
    key = runtime.submit({"task": "image", "requested_service": "comfyui", "inputs": {"workflow": graph}})
    clip = runtime.submit(
        {"task": "image", "requested_service": "comfyui", "inputs": {"workflow": other}, "depends_on": [key.job_id]}
    )
    print(json.dumps({"key": key.job_id, "clip": clip.job_id}), flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def slow_comfyui(tmp_path):
    with ComfyUIStandIn(root=tmp_path / "comfy", node_delay=0.6).running_in_thread() as server:
        yield server


def test_a_killed_process_leaves_nothing_behind(tmp_path, slow_comfyui):
    settings = make_settings(tmp_path, comfyui=[Endpoint(service="comfyui", url=slow_comfyui.url)])
    other = {**GRAPH, "1": {**GRAPH["1"], "inputs": {**GRAPH["1"]["inputs"], "width": 32}}}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, settings.model_dump_json(), json.dumps(GRAPH), json.dumps(other)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert child.stdout is not None
        ids = json.loads(child.stdout.readline())
        deadline = time.monotonic() + 30
        for line in child.stdout:
            event = json.loads(line)
            if event["job"] == ids["key"] and event["state"] == "running":
                break
            assert time.monotonic() < deadline, "the keyframe never started"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    before = journal_of(settings).latest()
    assert before[ids["key"]]["state"] == "running" and before[ids["clip"]]["state"] == "queued"

    recorder = Recorder()
    runtime = start_runtime(settings, recorder)
    try:
        for job_id in (ids["key"], ids["clip"]):
            final = recorder.wait_state(job_id, TERMINAL, timeout=30).job
            assert final["state"] == "done", final.get("error")
        posted = [p for method, p in slow_comfyui.requests if method == "POST" and p.endswith("/prompt")]
        assert len(posted) == 2, "the keyframe was followed, not resent; the clip was sent once"
        after = journal_of(settings).latest()
        assert all(job["state"] in TERMINAL for job in after.values()), after
    finally:
        assert runtime.shutdown(2.0)
