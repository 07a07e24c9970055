from __future__ import annotations

import threading

from genbridge.runtime import Runtime
from genbridge.runtime.dispatcher import MainThreadDispatcher
from genbridge.runtime.settings import Settings


def test_job_runs_to_done_and_events_reach_the_main_thread(tmp_path, scripted):
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    dispatcher = MainThreadDispatcher()
    seen = []
    for kind in ("state", "progress", "text", "output"):
        dispatcher.add_handler(kind, lambda ev: seen.append((ev.kind, threading.current_thread().name)))
    rt = Runtime(settings=lambda: settings, emit=dispatcher.post, client_factory=lambda ep, s: scripted(ep, s))
    handle = rt.submit({"task": "text", "inputs": {"prompt": "hi"}})
    final = handle.done.result(timeout=5)
    assert final["state"] == "done"
    assert final["text"] == "hello world"
    dispatcher.drain(budget_s=1.0)
    assert ("output", threading.current_thread().name) in seen
    assert rt.shutdown(1.0)
