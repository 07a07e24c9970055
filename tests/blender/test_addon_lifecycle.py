"""The add-on in real Blender: registration, preferences, operators, the timer bridge, and a clean unregister."""

from __future__ import annotations

import json
import threading
import time

import addon_utils
import bpy

PKG = "bl_ext.user_default.genbridge"


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "genbridge-loop" and t.is_alive()]


def test_enabled_extension_has_the_extension_package_name(gb):
    assert gb.__name__ == PKG
    assert PKG in bpy.context.preferences.addons
    assert hasattr(bpy.ops.genbridge, "generate")
    assert hasattr(bpy.types, "GENBRIDGE_PT_sequencer")


def test_enabling_starts_no_thread_and_registers_a_persistent_timer(gb):
    session = gb.blender.running()
    assert not session.runtime.started
    assert bpy.app.timers.is_registered(session.dispatcher.timer_callback)
    # Re-attaching to earlier jobs waits for a one-shot timer, never runs inside register().
    assert bpy.app.timers.is_registered(session.resume_callback)
    bpy.ops.wm.read_homefile()
    assert bpy.app.timers.is_registered(session.dispatcher.timer_callback), "the timer must survive file loads"


def test_preferences_are_saved_and_read_back(gb):
    prefs = bpy.context.preferences.addons[PKG].preferences
    ep = prefs.comfyui_endpoints.add()
    ep.url = "http://127.0.0.1:9999"
    ep.label = "box"
    prefs.vram_override_gb = 7.5
    assert bpy.ops.wm.save_userpref() == {"FINISHED"}
    prefs.comfyui_endpoints.clear()
    prefs.vram_override_gb = 0.0
    bpy.ops.wm.read_userpref()
    prefs = bpy.context.preferences.addons[PKG].preferences
    assert [e.url for e in prefs.comfyui_endpoints] == ["http://127.0.0.1:9999"]
    assert prefs.vram_override_gb == 7.5
    snap = gb.preferences.snapshot("/tmp/x")
    assert snap["comfyui"][0]["url"] == "http://127.0.0.1:9999"
    assert snap["allow_online"] is False
    prefs.comfyui_endpoints.clear()
    prefs.vram_override_gb = 0.0


def test_generate_operator_returns_at_once_and_the_timer_lands_the_image(
    gb, restart_session, fake_client_class, pump_until
):
    session = restart_session(fake_client_class)
    result = bpy.ops.genbridge.generate(task="image", prompt="a red fox", result_name="Fox", service="comfyui")
    assert result == {"FINISHED"}
    (job_id,) = session.jobs
    assert session.jobs[job_id]["state"] == "queued"  # visible at once, before any event
    pump_until(session, lambda: session.jobs[job_id]["state"] == "done" and "Fox" in bpy.data.images)
    image = bpy.data.images["Fox"]
    assert image["genbridge_job_id"] == job_id
    assert image["genbridge_prompt"] == "a red fox"
    assert image["genbridge_service"] == "comfyui"
    assert image["genbridge_seed"] >= 0  # -1 became a recorded random seed


def test_text_job_streams_tokens_into_a_text_block(gb, restart_session, fake_client_class, pump_until):
    session = restart_session(fake_client_class)
    bpy.ops.genbridge.generate(task="text", prompt="tell a story", result_name="Story", service="litellm")
    pump_until(session, lambda: any(j["state"] == "done" for j in session.jobs.values()))
    assert bpy.data.texts["Story"].as_string() == "Once upon a time"


def test_timer_defers_while_blender_saves(gb, restart_session, fake_client_class, pump_until):
    session = restart_session(fake_client_class)
    session.saving = True
    session.submit(
        {
            "task": "image",
            "inputs": {"prompt": "x"},
            "requested_service": "comfyui",
            "target": {"kind": "image", "name": "Deferred"},
        }
    )
    deadline = time.monotonic() + 5
    while session.dispatcher.pending < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session.dispatcher.timer_callback() == session.dispatcher.busy_interval
    assert session.dispatcher.pending >= 3, "events must wait while Blender saves"
    session.saving = False
    pump_until(session, lambda: "Deferred" in bpy.data.images)


def test_cancel_operator_ends_a_running_job_as_cancelled(gb, restart_session, fake_client_class, pump_until):
    fake_client_class.hang = True
    try:
        session = restart_session(fake_client_class)
        bpy.ops.genbridge.generate(task="image", prompt="never ends", service="comfyui")
        (job_id,) = session.jobs
        pump_until(session, lambda: session.jobs[job_id]["state"] == "submitted")
        assert bpy.ops.genbridge.cancel_job(job_id=job_id) == {"FINISHED"}
        pump_until(session, lambda: session.jobs[job_id]["state"] == "cancelled")
    finally:
        fake_client_class.hang = False


def test_unregister_with_20_jobs_in_flight_leaves_no_thread_timer_or_handler(
    gb, restart_session, fake_client_class, pump_until
):
    fake_client_class.hang = True
    try:
        session = restart_session(fake_client_class)
        for i in range(20):
            session.submit({"task": "image", "inputs": {"prompt": f"p{i}"}, "requested_service": "comfyui"})
        pump_until(session, lambda: sum(j["state"] == "submitted" for j in session.jobs.values()) == 20)
        journal = session.runtime.service.journal.path
        timer = session.dispatcher.timer_callback
        handlers_before = {
            name: len(getattr(bpy.app.handlers, name)) for name in ("save_pre", "save_post", "load_post")
        }
        addon_utils.disable(PKG, default_set=True)
        assert loop_threads() == []
        assert not bpy.app.timers.is_registered(timer)
        assert not bpy.app.timers.is_registered(session.resume_callback)
        for name, count in handlers_before.items():
            assert len(getattr(bpy.app.handlers, name)) == count - 1
        ours = set(session.jobs)
        interrupted = {
            job["id"]
            for job in (json.loads(line)["job"] for line in journal.read_text().splitlines())
            if job["id"] in ours and job["state"] == "interrupted"
        }
        assert interrupted == ours, "every in-flight job is journaled as interrupted"
    finally:
        fake_client_class.hang = False
