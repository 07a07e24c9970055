"""Issue 13.2: an edited endpoint (key, label, URL) takes effect for the next request, without a restart."""

from __future__ import annotations

import time

from genbridge.runtime import Runtime
from genbridge.runtime.settings import Settings


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_key_added_after_a_request_is_used_by_the_next_request_and_the_old_client_is_closed(tmp_path, scripted):
    made, closed = [], []

    class Client(scripted):
        async def close(self):
            closed.append(self)

    def factory(endpoint, settings):
        made.append(Client(endpoint, settings))
        return made[-1]

    prefs = {
        "output_dir": str(tmp_path / "out"),
        "data_dir": str(tmp_path / "data"),
        "comfyui": [{"url": "http://127.0.0.1:8188"}],
    }
    rt = Runtime(settings=lambda: Settings.from_mapping(prefs), emit=lambda _e: None, client_factory=factory)
    try:
        first = rt.submit({"task": "image", "requested_service": "comfyui"})
        assert first.done.result(5)["state"] == "done"
        assert [c.endpoint.api_key for c in made] == [None]

        prefs["comfyui"] = [{"url": "http://127.0.0.1:8188", "key": "sk-new"}]  # the user adds the key
        rt.update_settings()
        second = rt.submit({"task": "image", "requested_service": "comfyui"})
        assert second.done.result(5)["state"] == "done"
        assert [c.endpoint.api_key for c in made] == [None, "sk-new"], "the keyless client must not be reused"
        wait_for(lambda: closed == [made[0]])

        prefs["comfyui"] = [{"url": "http://127.0.0.1:8188", "key": "sk-new", "label": "box"}]
        rt.update_settings()
        third = rt.submit({"task": "image", "requested_service": "comfyui"})
        assert third.done.result(5)["state"] == "done"
        assert made[-1].endpoint.label == "box" and len(made) == 3
    finally:
        rt.shutdown(2.0)


def test_a_client_still_running_a_job_is_kept_when_its_endpoint_changes(tmp_path, scripted):
    made, closed = [], []

    class Client(scripted):
        async def close(self):
            closed.append(self)

    def factory(endpoint, settings):
        made.append(Client(endpoint, settings, hang=not made))  # the first client's job never ends
        return made[-1]

    prefs = {"output_dir": str(tmp_path / "o"), "data_dir": str(tmp_path / "d"), "comfyui": [{"url": "http://h:1"}]}
    prefs["allow_online"] = True
    rt = Runtime(settings=lambda: Settings.from_mapping(prefs), emit=lambda _e: None, client_factory=factory)
    try:
        running = rt.submit({"task": "image", "requested_service": "comfyui"})
        wait_for(lambda: made and rt.service is not None and rt.service.jobs[running.job_id].state == "submitted")
        prefs["comfyui"] = [{"url": "http://h:1", "key": "key-2"}]
        rt.update_settings()
        nxt = rt.submit({"task": "image", "requested_service": "comfyui"})
        assert nxt.done.result(5)["state"] == "done"
        assert closed == [], "a client whose job still runs is not closed under it"
        rt.cancel(running.job_id)
        assert running.done.result(5)["state"] == "cancelled"
    finally:
        rt.shutdown(2.0)
