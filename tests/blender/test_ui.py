"""The Blender UI in real Blender: every operator through bpy.ops with a context override, results landing as
images, movie strips and text, failures reported with their hint, menus for F3, and draw code without I/O."""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import os
import socket
import threading
from types import SimpleNamespace

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


@pytest.fixture
def media_client_class(fake_client_class):
    """The fake client, plus a real H.264 mp4 for video tasks and an injectable failure."""
    from genbridge.standins.placeholder import write_placeholder_mp4

    class MediaClient(fake_client_class):
        fail_with = None

        async def events(self, job):
            if MediaClient.fail_with is not None:
                raise MediaClient.fail_with
            async for event in super().events(job):
                yield event

        async def fetch_outputs(self, job, dest):
            if job.task in ("quick_preview", "final_video"):
                dest.mkdir(parents=True, exist_ok=True)
                out = dest / "video.mp4"
                write_placeholder_mp4(out, "PLACEHOLDER", 64, 64, 8, 8)
                return [out]
            return await super().fetch_outputs(job, dest)

    return MediaClient


@pytest.fixture
def session(gb, restart_session, media_client_class):
    session = restart_session(media_client_class)
    yield session
    bpy.context.window_manager.genbridge_jobs.clear()


def strips(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def only_job(session):
    (job_id,) = session.jobs
    return job_id


def test_video_job_lands_as_a_movie_strip_at_the_channel_and_frame_planned_at_queue_time(session, editor, pump_until):
    window = bpy.context.window_manager.windows[0]
    previous, scene = window.scene, bpy.data.scenes.new("GenBridge video test")
    window.scene = scene  # a scene of its own: other tests leave strips behind
    scene.sequence_editor_create()
    try:  # 5.0 takes a length, 4.x a last frame
        strips(scene).new_effect(name="Busy", type="COLOR", channel=1, frame_start=1, length=100)
    except TypeError:
        strips(scene).new_effect(name="Busy", type="COLOR", channel=1, frame_start=1, frame_end=101)
    scene.frame_current = 17
    with editor("SEQUENCE_EDITOR"):
        assert bpy.ops.genbridge.generate(task="final_video", prompt="a boat", service="wan2gp") == {"FINISHED"}
    job_id = only_job(session)
    scene.frame_current = 60  # moving the playhead after queuing must not move the result
    pump_until(session, lambda: "target" in session.jobs[job_id])  # the journaled job is the one record
    target = session.jobs[job_id]["target"]
    assert (target["kind"], target["channel"], target["frame_start"]) == ("movie_strip", 2, 17)
    pump_until(session, lambda: session.jobs[job_id]["state"] == "done" and len(strips(scene)) == 2, timeout=30)
    strip = next(s for s in strips(scene) if s.get("genbridge_job_id") == job_id)
    assert strip.type == "MOVIE"
    assert (strip.channel, strip.frame_start) == (2, 17)
    assert strip["genbridge_prompt"] == "a boat" and strip["genbridge_service"] == "wan2gp"
    window.scene = previous
    bpy.data.scenes.remove(scene)


def test_image_started_from_the_image_editor_is_shown_there_with_provenance(session, editor, pump_until):
    with editor("IMAGE_EDITOR") as area:
        bpy.ops.genbridge.generate(task="image", prompt="a lighthouse", result_name="Lighthouse", service="comfyui")
        job_id = only_job(session)
        pump_until(session, lambda: "target" in session.jobs[job_id])
        assert session.jobs[job_id]["target"]["show_in_image_editor"] is True
        pump_until(session, lambda: "Lighthouse" in bpy.data.images)
        image = bpy.data.images["Lighthouse"]
        assert area.spaces.active.image == image
    assert image["genbridge_job_id"] == job_id
    assert image["genbridge_instance"] == "http://127.0.0.1:8188"
    assert image["genbridge_task"] == "image"


def test_generate_without_arguments_sends_the_scene_panel_settings(session, editor, pump_until):
    settings = bpy.context.scene.genbridge
    settings.task, settings.prompt, settings.negative_prompt = "quick_preview", "a storm", "blurry"
    settings.width, settings.height, settings.frames, settings.steps, settings.seed = 640, 384, 17, 8, 42
    settings.service = "comfyui"
    try:
        with editor("VIEW_3D"):
            assert bpy.ops.genbridge.generate() == {"FINISHED"}
        rows = bpy.context.window_manager.genbridge_jobs
        assert [r.job_id for r in rows] == [only_job(session)], "the job list shows the job at once"
        # What was sent is read from the job's journaled snapshot (the main thread keeps no copy of requests).
        pump_until(session, lambda: "inputs" in session.jobs[only_job(session)])
        spec = session.jobs[only_job(session)]
        assert spec["task"] == "quick_preview" and spec["requested_service"] == "comfyui"
        assert spec["inputs"] == {
            "prompt": "a storm",
            "negative_prompt": "blurry",
            "seed": 42,
            "width": 640,
            "height": 384,
            "steps": 8,
            "frames": 17,
        }
    finally:
        settings.property_unset("prompt")
        for name in ("task", "negative_prompt", "width", "height", "frames", "steps", "seed", "service"):
            settings.property_unset(name)


def test_the_scene_settings_and_the_generate_operator_have_the_same_fields_and_defaults(gb):
    panel = bpy.types.Scene.bl_rna.properties["genbridge"].fixed_type.properties
    operator = bpy.ops.genbridge.generate.get_rna_type().properties
    for field in gb.blender.choices.GENERATE:
        for props in (panel, operator):
            prop = props[field.name]
            assert (prop.name, prop.description) == (field.label, field.description), field.name
            if field.default is not None:
                assert prop.default == field.default, field.name


def test_generate_without_a_prompt_is_refused_with_a_message(session, editor):
    with editor("VIEW_3D"), pytest.raises(RuntimeError, match="Write a prompt first"):
        bpy.ops.genbridge.generate(prompt="  ")
    assert session.jobs == {}


def test_failed_job_shows_its_hint_in_the_row_and_as_a_notice(session, media_client_class, editor, pump_until):
    errors = importlib.import_module(f"{PKG}.runtime.errors")
    media_client_class.fail_with = errors.RejectedInput("The template needs a width divisible by 16.", "Use 832.")
    try:
        with editor("VIEW_3D"):
            bpy.ops.genbridge.generate(task="image", prompt="x", service="comfyui")
        job_id = only_job(session)
        pump_until(session, lambda: session.jobs[job_id]["state"] == "failed")
    finally:
        media_client_class.fail_with = None
    row = session.jobs[job_id]
    assert row["error"]["hint"] == "Use 832."
    assert session.notice["level"] == "ERROR"
    assert "divisible by 16" in session.notice["text"] and "Use 832." in session.notice["text"]
    # and the Retry operator queues the same spec again, which now succeeds
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.retry_job(job_id=job_id) == {"FINISHED"}
    (new_id,) = set(session.jobs) - {job_id}
    pump_until(session, lambda: session.jobs[new_id]["state"] == "done")
    assert session.jobs[new_id]["inputs"]["prompt"] == "x"
    assert session.notice["level"] == "INFO"


def test_cancel_from_the_menu_cancels_every_running_job(session, media_client_class, editor, pump_until):
    media_client_class.hang = True
    try:
        with editor("SEQUENCE_EDITOR"):
            bpy.ops.genbridge.generate(task="image", prompt="a", service="comfyui")
            bpy.ops.genbridge.generate(task="image", prompt="b", service="comfyui")
            pump_until(session, lambda: all(j["state"] == "submitted" for j in session.jobs.values()))
            assert bpy.ops.genbridge.cancel_job() == {"FINISHED"}
        pump_until(session, lambda: all(j["state"] == "cancelled" for j in session.jobs.values()))
        assert not bpy.ops.genbridge.cancel_job.poll(), "nothing left to cancel"
    finally:
        media_client_class.hang = False


def test_open_output_opens_the_job_folder_and_clear_empties_the_list(gb, session, editor, pump_until, monkeypatch):
    opened = []
    monkeypatch.setattr(gb.operators.jobs, "open_folder", opened.append)
    assert not bpy.ops.genbridge.open_output.poll()
    with editor("VIEW_3D"):
        bpy.ops.genbridge.generate(task="image", prompt="x", result_name="Out", service="comfyui")
        job_id = only_job(session)
        pump_until(session, lambda: session.jobs[job_id]["state"] == "done")
        assert bpy.ops.genbridge.open_output() == {"FINISHED"}  # the list's active job
        assert opened == [os.path.dirname(session.jobs[job_id]["outputs"][0])]
        assert bpy.ops.genbridge.clear_jobs() == {"FINISHED"}
    assert session.jobs == {} and len(bpy.context.window_manager.genbridge_jobs) == 0


def test_check_services_operator_fills_the_status_cache(session, editor, pump_until):
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.check_services() == {"FINISHED"}
        assert session.services_checking and not bpy.ops.genbridge.check_services.poll()
    pump_until(session, lambda: not session.services_checking)
    assert {r["service"] for r in session.services.values()} == {"comfyui", "wan2gp", "litellm"}
    assert all(r["reachable"] and r["checked_at"] > 0 for r in session.services.values())


def test_preferences_endpoint_add_test_and_remove(gb, session, pump_until):
    prefs = bpy.context.preferences.addons[PKG].preferences
    assert bpy.ops.genbridge.endpoint_add(service="litellm") == {"FINISHED"}
    assert [e.url for e in prefs.litellm_endpoints] == ["http://127.0.0.1:4000"]
    prefs.litellm_endpoints[0].url = "http://127.0.0.1:4001"
    assert bpy.ops.genbridge.endpoint_test(service="litellm", index=0) == {"FINISHED"}
    key = "litellm|http://127.0.0.1:4001"
    assert session.endpoint_tests[key]["checking"] is True
    pump_until(session, lambda: "reachable" in session.endpoint_tests[key])
    assert session.endpoint_tests[key]["version"] == "fake"
    assert bpy.ops.genbridge.endpoint_remove(service="litellm", index=0) == {"FINISHED"}
    assert len(prefs.litellm_endpoints) == 0


def test_testing_a_remote_endpoint_explains_that_online_access_is_off(gb, restart_session, pump_until):
    session = restart_session(None)  # the real clients: they refuse non-loopback hosts before any request
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.comfyui_endpoints.add().url = "http://192.0.2.10:8188"
    try:
        bpy.ops.genbridge.endpoint_test(service="comfyui", index=0)
        key = "comfyui|http://192.0.2.10:8188"
        pump_until(session, lambda: "reachable" in session.endpoint_tests[key], timeout=20)
        result = session.endpoint_tests[key]
        assert result["reachable"] is False
        assert "Allow Online Access" in (result["error"]["hint"] + result["error"]["message"])
    finally:
        prefs.comfyui_endpoints.clear()


def test_report_operator_runs_from_the_bridge_without_blocking(gb, session):
    with bpy.context.temp_override(window=bpy.context.window_manager.windows[0]):
        assert bpy.ops.genbridge.report(message="hello", level="WARNING") == {"FINISHED"}
    gb.blender.notify.report("GenBridge: done", "INFO")  # what the timer calls; must not raise


def test_every_public_operator_is_in_a_genbridge_submenu_of_registered_editor_menus(gb, fake_layout):
    menus = gb.ui.menus
    in_menus: set[str] = set()
    for name in menus.PARENT_MENUS:
        parent = getattr(bpy.types, name)
        assert menus.draw_submenu in parent._dyn_ui_initialize(), f"GenBridge submenu missing from {name}"
        layout = fake_layout()
        menus.draw_submenu(SimpleNamespace(layout=layout), bpy.context)
        for (menu_id,), _kw in layout.calls("menu"):
            sub = fake_layout()
            for draw in getattr(bpy.types, menu_id)._dyn_ui_initialize():  # the menu's draw and appended ones
                draw(SimpleNamespace(layout=sub), bpy.context)
            in_menus |= set(sub.operators())
    public = {
        cls.bl_idname
        for cls in gb.operators.classes()
        if hasattr(cls, "bl_idname") and "." in cls.bl_idname and "INTERNAL" not in getattr(cls, "bl_options", ())
    }
    assert {"genbridge.generate", "genbridge.cancel_job"} <= public
    assert public <= in_menus, f"not reachable from F3: {public - in_menus}"
    for idname in in_menus:
        module, op = idname.split(".")
        assert hasattr(getattr(bpy.ops, module), op), idname


@contextlib.contextmanager
def no_io(monkeypatch):
    """Any file or network access from the drawing (main) thread raises; the loop thread keeps its I/O
    (the journal, sockets), since the patch is process-wide and jobs may be running."""
    main = threading.main_thread()

    def refusing(original):
        def guarded(*args, **kwargs):
            if threading.current_thread() is main:
                raise AssertionError("I/O during draw")
            return original(*args, **kwargs)

        return guarded

    with monkeypatch.context() as m:
        for target, name in (
            (builtins, "open"),
            (io, "open"),
            (os, "open"),
            (os, "listdir"),
            (os, "scandir"),
            (socket, "create_connection"),
            (socket.socket, "connect"),
        ):
            m.setattr(target, name, refusing(getattr(target, name)))
        yield


def draw_everything(gb, fake_layout, monkeypatch) -> list:
    """Every draw entry point of the add-on, with I/O refused; returns the layouts."""
    context = bpy.context
    wm = context.window_manager
    layouts = []
    with no_io(monkeypatch):
        panels = [*gb.ui.panels.CLASSES, *gb.storyboard.panel.CLASSES]
        for space in ("view3d", "sequencer", "image"):
            # The parent panel and its sub-panels, into one layout (what the sidebar shows, top to bottom).
            layouts.append(fake_layout())
            for cls in panels:
                if (
                    cls.bl_idname == f"GENBRIDGE_PT_{space}"
                    or getattr(cls, "bl_parent_id", "") == f"GENBRIDGE_PT_{space}"
                ):
                    if cls.poll(context) if hasattr(cls, "poll") else True:
                        getattr(bpy.types, cls.bl_idname).draw(SimpleNamespace(layout=layouts[-1]), context)
        for row in wm.genbridge_jobs:
            layouts.append(fake_layout())
            bpy.types.GENBRIDGE_UL_jobs.draw_item(
                None, context, layouts[-1], wm, row, 0, wm, "genbridge_job_index", 0, 0
            )
        prefs = context.preferences.addons[PKG].preferences
        layouts.append(fake_layout())
        type(prefs).draw(SimpleNamespace(layout=layouts[-1], endpoints=prefs.endpoints), context)
        layouts.append(fake_layout())
        bpy.types.GENBRIDGE_MT_menu.draw(SimpleNamespace(layout=layouts[-1]), context)
    return layouts


def test_draw_code_does_no_io_in_any_panel_state(gb, session, media_client_class, fake_layout, monkeypatch, pump_until):
    draw_everything(gb, fake_layout, monkeypatch)  # no services, no jobs
    session.check_services()
    checking = draw_everything(gb, fake_layout, monkeypatch)
    assert "Checking services..." in checking[0].labels()
    pump_until(session, lambda: not session.services_checking)
    media_client_class.hang = True
    try:
        session.submit({"task": "image", "inputs": {"prompt": "p"}, "requested_service": "comfyui"})
        pump_until(session, lambda: all(j["state"] == "submitted" for j in session.jobs.values()))
        running = draw_everything(gb, fake_layout, monkeypatch)
        assert running[0].calls("template_list") and running[0].calls("progress")
        assert "genbridge.cancel_job" in running[0].operators()
    finally:
        media_client_class.hang = False
    bpy.ops.genbridge.cancel_job()
    pump_until(session, lambda: all(j["state"] == "cancelled" for j in session.jobs.values()))
    finished = draw_everything(gb, fake_layout, monkeypatch)
    assert "genbridge.retry_job" in finished[0].operators()


def test_disabling_removes_the_scene_settings_job_list_and_menu_entries(gb):
    import addon_utils

    draw = gb.ui.menus.draw_submenu
    addon_utils.disable(PKG, default_set=True)
    try:
        assert not hasattr(bpy.types.Scene, "genbridge")
        assert not hasattr(bpy.types.WindowManager, "genbridge_jobs")
        assert draw not in bpy.types.VIEW3D_MT_view._dyn_ui_initialize()
    finally:
        addon_utils.enable(PKG, default_set=True)
