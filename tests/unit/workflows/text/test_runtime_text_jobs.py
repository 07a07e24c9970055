"""Text jobs through the real Runtime (job service, router, loop thread) against the real proxy."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

from genbridge.runtime import Runtime
from genbridge.runtime.settings import Endpoint, Settings


def _runtime(litellm_proxy, tmp_path, events):
    endpoint = Endpoint(service="litellm", url=litellm_proxy.url, key=litellm_proxy.master_key)
    settings = Settings(litellm=[endpoint], output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    return Runtime(settings=lambda: settings, emit=events.put)


def test_a_shotlist_job_ends_done_with_text_and_parsed_shots_on_disk(litellm_proxy, tmp_path) -> None:
    events: queue.SimpleQueue = queue.SimpleQueue()
    rt = _runtime(litellm_proxy, tmp_path, events)
    try:
        inputs = {"text_task": "shotlist", "variables": {"logline": "x"}, "model": "storyboard-mock"}
        final = rt.submit({"task": "shotlist", "inputs": inputs}).done.result(timeout=30)
    finally:
        rt.shutdown(2.0)
    assert final["state"] == "done", final.get("error")
    names = [Path(p).name for p in final["outputs"]]
    assert names == ["shotlist.txt", "shotlist.json"]
    assert Path(final["outputs"][0]).read_text() == final["text"]
    assert len(json.loads(Path(final["outputs"][1]).read_text())["shots"]) == 3


def test_cancelling_a_streaming_job_ends_it_cancelled_with_the_text_so_far(litellm_proxy, tmp_path) -> None:
    events: queue.SimpleQueue = queue.SimpleQueue()
    rt = _runtime(litellm_proxy, tmp_path, events)
    try:
        handle = rt.submit({"task": "text", "inputs": {"prompt": "hi", "model": "upstream-trickle"}})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            event = events.get(timeout=20)
            if event.kind == "text":
                break
        handle.cancel()
        final = handle.done.result(timeout=5)
    finally:
        rt.shutdown(2.0)
    assert final["state"] == "cancelled"
    assert final["text"].startswith("word0 ") and len(final["text"].split()) < 400
