"""Issue 13 in real Blender (bpy module): the session tags the GenBridge sidebar for redraw by itself, an edited
endpoint takes effect for the next job and the status rows at once, a new failure is selected, and a planned
clip length survives into the Sequencer. (Panel.draw never runs in the bpy module: the real-GUI suite in
tests/gui checks what a user sees; here the data and the redraw requests are checked.)"""

from __future__ import annotations

import importlib

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


@pytest.fixture
def sidebar_open():
    """The default screen's 3D Viewport with its sidebar (N panel) shown."""
    area = next(a for a in bpy.context.window_manager.windows[0].screen.areas if a.type == "VIEW_3D")
    space = area.spaces.active
    before = space.show_region_ui
    space.show_region_ui = True
    yield area
    space.show_region_ui = before


@pytest.fixture
def recorded_keys(fake_client_class):
    keys: list = []

    class KeyRecorder(fake_client_class):
        def __init__(self, endpoint, settings):
            super().__init__(endpoint, settings)
            keys.append((endpoint.url, endpoint.api_key))

    KeyRecorder.keys = keys
    return KeyRecorder


def test_the_timer_tags_the_open_genbridge_sidebar_after_a_change(gb, restart_session, fake_client_class, sidebar_open):
    redraw = importlib.import_module(f"{PKG}.blender.redraw")
    handoff = importlib.import_module(f"{PKG}.runtime.handoff")
    session = restart_session(fake_client_class)
    assert redraw.tag_genbridge_regions(bpy.context.window_manager) >= 1, "the open sidebar is a GenBridge region"
    session.redraw.last = float("-inf")
    before = session.redraw.redraws
    session.dispatcher.post(handoff.MainEvent(kind="progress", job_id="j", progress=0.5, phase="step 4/40"))
    session.dispatcher.timer_callback()
    assert session.redraw.redraws == before + 1
    assert session.dispatcher.idle_interval <= 0.1, "an event posted while idle shows within ~0.2 s"


def test_a_key_added_in_preferences_is_used_by_the_next_job(gb, restart_session, recorded_keys, pump_until):
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.comfyui_endpoints.clear()
    endpoint = prefs.comfyui_endpoints.add()
    endpoint.url = "http://127.0.0.1:8188"
    try:
        session = restart_session(recorded_keys)
        spec = {"task": "image", "inputs": {"prompt": "x"}, "requested_service": "comfyui"}
        first = session.submit(spec)
        pump_until(session, lambda: session.jobs[first]["state"] == "done")
        endpoint.key = "sk-added"  # as typed into the preferences (its update callback runs)
        second = session.submit(spec)
        pump_until(session, lambda: session.jobs[second]["state"] == "done")
        comfy = [key for url, key in recorded_keys.keys if url == "http://127.0.0.1:8188"]
        assert comfy[0] is None and comfy[-1] == "sk-added", "no restart needed"
    finally:
        prefs.comfyui_endpoints.clear()


def test_editing_a_url_replaces_its_status_row_at_once(gb, restart_session, fake_client_class, pump_until):
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.comfyui_endpoints.clear()
    endpoint = prefs.comfyui_endpoints.add()
    endpoint.url = "http://127.0.0.1:8188"
    try:
        session = restart_session(fake_client_class)
        session.check_services()
        pump_until(session, lambda: not session.services_checking)
        assert "comfyui|http://127.0.0.1:8188" in session.services
        endpoint.url = "http://127.0.0.1:8189"  # the update callback tells the session
        assert "comfyui|http://127.0.0.1:8188" not in session.services
        assert "comfyui|http://127.0.0.1:8189" in session.endpoints
        assert [k for k in session.endpoints if k.startswith("comfyui|")] == ["comfyui|http://127.0.0.1:8189"]
    finally:
        prefs.comfyui_endpoints.clear()


def test_a_newly_failed_job_is_selected_in_the_job_list(gb, restart_session, fake_client_class, pump_until):
    errors = importlib.import_module(f"{PKG}.runtime.errors")

    class Failing(fake_client_class):
        async def validate(self, job):
            if job.inputs.get("prompt") == "bad":
                raise errors.RejectedInput("The template needs a width divisible by 16.", "Use 832.")
            return []

    session = restart_session(Failing)
    wm = bpy.context.window_manager
    try:
        bad = session.submit({"task": "image", "inputs": {"prompt": "bad"}, "requested_service": "comfyui"})
        good = session.submit({"task": "image", "inputs": {"prompt": "good"}, "requested_service": "comfyui"})
        pump_until(session, lambda: session.jobs[bad]["state"] == "failed" and session.jobs[good]["state"] == "done")
        assert wm.genbridge_jobs[wm.genbridge_job_index].job_id == bad
    finally:
        wm.genbridge_jobs.clear()


def test_a_clip_lands_with_its_planned_length_from_the_job_snapshot(gb, tmp_path):
    from genbridge.standins.placeholder import write_placeholder_mp4

    landing = importlib.import_module(f"{PKG}.blender.landing")
    jobs = importlib.import_module(f"{PKG}.runtime.jobs")
    clip = tmp_path / "clip.mp4"
    write_placeholder_mp4(clip, "PLACEHOLDER", 64, 64, 24, 24)  # 24 frames of content
    scene = bpy.data.scenes.new("Planned Length")
    try:
        target = {"kind": "movie_strip", "scene": scene.name, "channel": 2, "frame_start": 10, "duration": 12}
        row = jobs.Job.model_validate({"task": "quick_preview", "target": target}).snapshot()  # as journaled
        strip = landing.land_output(row, str(clip))
        assert strip.type == "MOVIE" and (strip.channel, strip.frame_start) == (2, 10)
        assert strip.frame_final_duration == 12
    finally:
        bpy.data.scenes.remove(scene)


def test_panels_are_sub_panels_so_sections_never_overlap(gb):
    for space in ("view3d", "sequencer", "image"):
        for section in ("services", "generate", "jobs"):
            panel = getattr(bpy.types, f"GENBRIDGE_PT_{space}_{section}")
            assert panel.bl_parent_id == f"GENBRIDGE_PT_{space}"
    assert bpy.types.GENBRIDGE_PT_storyboard_sequencer.bl_parent_id == "GENBRIDGE_PT_sequencer"


def test_a_keyframe_strip_added_without_reading_its_file_renders_like_one_that_read_it(gb, tmp_path):
    """Landing points an image strip at its file without decoding it (a 1080p PNG takes longer than a frame);
    the Sequencer then reads it when it draws or renders, with the same picture as Blender's own `new_image`."""
    from genbridge.standins.placeholder import placeholder_png

    landing = importlib.import_module(f"{PKG}.blender.landing")
    png = tmp_path / "keyframe.png"
    png.write_bytes(placeholder_png("PLACEHOLDER", 1920, 1080))
    means = {}
    for how in ("lazy", "blender"):
        scene = bpy.data.scenes.new(f"Render {how}")
        try:
            strips = landing.strips_of(scene)
            if how == "lazy":
                strip = landing.new_image_strip(strips, "k", str(png), 1, 1)
                assert bpy.path.abspath(strip.directory + strip.elements[0].filename) == str(png)
            else:
                strips.new_image(name="k", filepath=str(png), channel=1, frame_start=1)
            render = scene.render
            render.resolution_x, render.resolution_y, render.resolution_percentage = 96, 54, 100
            render.image_settings.file_format = "PNG"
            render.filepath = str(tmp_path / f"{how}.png")
            with bpy.context.temp_override(scene=scene):
                bpy.ops.render.render(write_still=True, scene=scene.name)
            out = bpy.data.images.load(str(tmp_path / f"{how}.png"))
            pixels = list(out.pixels[:])
            means[how] = sum(pixels) / len(pixels)
            bpy.data.images.remove(out)
        finally:
            bpy.data.scenes.remove(scene)
    assert means["lazy"] == pytest.approx(means["blender"]) and means["lazy"] > 0.3
