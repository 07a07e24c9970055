"""The session against a fake bpy: redraws without user input (issue 13.1), endpoint edits taking effect and the
status rows (13.2, 13.3), the job list selecting a new failure (13.5). Events are posted as the loop thread does;
the timer callback is called as Blender would."""

from __future__ import annotations

import time

import pytest
from genbridge.runtime.handoff import MainEvent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefs():
    return {"comfyui": [{"url": "http://127.0.0.1:8188", "enabled": True, "label": ""}]}


@pytest.fixture
def make_session(session_module, prefs, tmp_path):
    made = []

    def make(client_factory=None):
        readers = session_module.PreferenceReaders(
            settings=lambda data_dir: {**prefs, "data_dir": str(tmp_path / "data"), "output_dir": str(tmp_path / "o")},
            notify=lambda: (True, False),
        )
        session = session_module.Session("genbridge", readers, client_factory=client_factory)
        session.start()
        made.append(session)
        return session

    yield make
    for session in made:
        session.stop()


def sidebar(bpy, index=0):
    return bpy.context.window_manager.windows[0].screen.areas[index].regions[-1]


def state_event(job_id: str, state: str, **job) -> MainEvent:
    return MainEvent(kind="state", job_id=job_id, state=state, phase=state, job={"id": job_id, "state": state, **job})


def test_a_change_from_the_loop_thread_redraws_the_sidebar_at_the_next_tick(make_session, bpy):
    session = make_session()
    session.dispatcher.timer_callback()
    before = sidebar(bpy).redraws
    session.dispatcher.post(MainEvent(kind="progress", job_id="j", progress=0.1, phase="step 4/40"))
    session.dispatcher.timer_callback()
    assert sidebar(bpy).redraws == before + 1, "no user input needed"


def test_redraws_are_throttled_to_ten_a_second_and_none_is_lost(make_session, bpy):
    session = make_session()
    clock = Clock()
    session.redraw._clock = clock
    session.dispatcher.post(MainEvent(kind="log", job_id="j", text="a"))
    session.dispatcher.timer_callback()
    first = sidebar(bpy).redraws
    for step in range(5):  # a burst within 50 ms: no redraw until 0.1 s passed
        clock.now += 0.01
        session.dispatcher.post(MainEvent(kind="progress", job_id="j", progress=step / 10))
        session.dispatcher.timer_callback()
    assert sidebar(bpy).redraws == first
    clock.now += 0.06
    session.dispatcher.timer_callback()  # nothing new arrived, but the burst is still to be shown
    assert sidebar(bpy).redraws == first + 1
    clock.now += 1.0
    session.dispatcher.timer_callback()
    assert sidebar(bpy).redraws == first + 1, "nothing changed: no redraw"


def test_only_sidebars_showing_genbridge_are_redrawn(session_module, tmp_path, monkeypatch):
    import sys

    from genbridge.blender.redraw import tag_genbridge_regions
    from genbridge_fake_bpy import Area

    shown = Area("SEQUENCE_EDITOR")
    other_tab = Area("VIEW_3D", category="Tool")
    closed = Area("IMAGE_EDITOR", sidebar=False)
    prefs_area = Area("PREFERENCES")
    wm = sys.modules["bpy"].context.window_manager
    wm.windows[0].screen.areas[:] = [shown, other_tab, closed, prefs_area, Area("OUTLINER")]
    assert tag_genbridge_regions(wm) == 2
    assert shown.regions[-1].redraws == 1 and prefs_area.redraws == 1
    assert other_tab.regions[-1].redraws == 0 and closed.regions[-1].redraws == 0


def test_pressing_check_redraws_at_once_so_the_button_says_checking(make_session, bpy):
    session = make_session()
    session.dispatcher.timer_callback()
    before = sidebar(bpy).redraws
    session.changed()  # what check_services/submit/test_endpoint call after changing what the panel shows
    session.dispatcher.timer_callback()
    assert sidebar(bpy).redraws == before + 1


def test_a_newly_failed_job_becomes_the_selected_one(make_session, bpy):
    session = make_session()
    wm = bpy.context.window_manager
    for job_id, created in (("old", 1.0), ("new", 2.0)):
        session.dispatcher.post(state_event(job_id, "running", created_at=created))
    session.dispatcher.timer_callback()
    assert [r.job_id for r in wm.genbridge_jobs] == ["new", "old"]
    wm.genbridge_job_index = 0  # the user looks at the newer job
    error = {"code": "oom", "message": "ComfyUI ran out of VRAM.", "hint": "Lower the resolution."}
    session.dispatcher.post(state_event("old", "failed", created_at=1.0, error=error))
    session.dispatcher.timer_callback()
    assert wm.genbridge_jobs[wm.genbridge_job_index].job_id == "old", "the detail box must describe the failure"
    session.dispatcher.post(MainEvent(kind="progress", job_id="new", progress=0.5))
    session.dispatcher.timer_callback()
    assert wm.genbridge_jobs[wm.genbridge_job_index].job_id == "old", "progress elsewhere keeps the selection"


def test_status_rows_are_exactly_the_configured_endpoints_with_their_latest_check(make_session, prefs):
    session = make_session()
    session.sync_settings()
    assert list(session.endpoints) == [
        "comfyui|http://127.0.0.1:8188",
        "wan2gp|http://127.0.0.1:7866/mcp",
        "litellm|http://127.0.0.1:4000",
    ]  # services missing from the preferences use their default local URL, as the runtime does
    results = [
        {"service": "comfyui", "url": "http://127.0.0.1:8188", "reachable": True},
        {"service": "litellm", "url": "http://127.0.0.1:4000", "reachable": True, "error": {"message": "no key"}},
    ]
    session.dispatcher.post(MainEvent(kind="services", results=tuple(results)))
    session.dispatcher.timer_callback()
    assert set(session.services) == {"comfyui|http://127.0.0.1:8188", "litellm|http://127.0.0.1:4000"}

    prefs["comfyui"] = [{"url": "http://127.0.0.1:9999", "enabled": True, "label": ""}]  # the user edits the URL
    session.preferences_changed()
    assert "comfyui|http://127.0.0.1:8188" not in session.endpoints
    assert set(session.services) == {"litellm|http://127.0.0.1:4000"}, "the old URL's row is gone at once"

    prefs["litellm"] = [{"url": "http://127.0.0.1:4000", "key": "sk-1", "enabled": True}]  # the user adds the key
    session.preferences_changed()
    assert session.services == {}, "a check made without the key no longer describes this endpoint"


def test_a_check_result_for_an_endpoint_edited_away_meanwhile_is_not_listed(make_session, prefs):
    session = make_session()
    session.sync_settings()
    prefs["comfyui"] = [{"url": "http://127.0.0.1:9999", "enabled": True}]
    session.preferences_changed()
    old = {"service": "comfyui", "url": "http://127.0.0.1:8188", "reachable": True}
    session.dispatcher.post(MainEvent(kind="services", results=(old,)))
    session.dispatcher.timer_callback()
    assert session.services == {}


def test_only_the_end_of_the_users_check_clears_checking(make_session):
    session = make_session()
    session.sync_settings()
    session.services_checking = True  # as check_services sets it
    monitor = {"service": "comfyui", "url": "http://127.0.0.1:8188", "reachable": True}
    session.dispatcher.post(MainEvent(kind="services", results=(monitor,)))  # the health monitor's round
    session.dispatcher.timer_callback()
    assert session.services_checking, "the button keeps saying Checking... until the user's check ends"
    assert "comfyui|http://127.0.0.1:8188" in session.services
    session.dispatcher.post(MainEvent(kind="services", key="check-done"))
    session.dispatcher.timer_callback()
    assert not session.services_checking and "comfyui|http://127.0.0.1:8188" in session.services


def test_a_key_added_in_preferences_is_used_by_the_next_job_without_a_restart(make_session, prefs):
    keys = []

    class Client:
        def __init__(self, endpoint, settings):
            self.endpoint, self.service = endpoint, endpoint.service
            keys.append(endpoint.api_key)

        async def probe(self):
            raise NotImplementedError

        async def validate(self, job):
            return []

        async def submit(self, job):
            return "r"

        async def events(self, job):
            return
            yield

        async def cancel(self, job):
            pass

        async def fetch_outputs(self, job, dest):
            return []

        async def close(self):
            pass

    session = make_session(client_factory=Client)
    spec = {"task": "image", "inputs": {"prompt": "x"}, "requested_service": "comfyui"}
    first = session.submit(spec)
    pump(session, lambda: session.jobs[first].get("state") == "done")
    prefs["comfyui"] = [{"url": "http://127.0.0.1:8188", "key": "sk-added", "enabled": True}]
    # No preferences callback here: submitting alone must notice the change (the next request uses it).
    second = session.submit(spec)
    pump(session, lambda: session.jobs[second].get("state") == "done")
    assert keys == [None, "sk-added"]


def pump(session, until, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"not reached; jobs: {session.jobs}"
        session.dispatcher.timer_callback()
        time.sleep(0.005)


def test_a_landed_image_is_named_on_its_job_for_the_scene_buttons(make_session, bpy, tmp_path):
    """The job's details offer "Use as Texture" for the image it landed, not whatever the Image Editor shows."""
    session = make_session()
    target = {"kind": "image", "name": "Cottage", "scene": "Scene"}
    session.dispatcher.post(state_event("img", "running", created_at=1.0, target=target))
    session.dispatcher.post(MainEvent(kind="output", job_id="img", path=str(tmp_path / "out.png")))
    session.dispatcher.post(state_event("txt", "running", created_at=2.0, target={"kind": "text", "name": "T"}))
    session.dispatcher.post(MainEvent(kind="output", job_id="txt", path=str(tmp_path / "out.txt")))
    session.dispatcher.timer_callback()
    assert session.jobs["img"]["image_name"] == "Cottage" and "Cottage" in bpy.data.images
    assert "image_name" not in session.jobs["txt"], "a text result is no image to put on objects"
