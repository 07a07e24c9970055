"""The storyboard in real bpy against the stand-ins (ComfyUI, WanGP) and the real LiteLLM proxy with a mock model:
the layout, a regenerated take, and a cancel mid-way."""

from __future__ import annotations

import importlib
import time

import bpy
from genbridge.runtime.vocabulary import ACTIVE_STATES

PKG = "bl_ext.user_default.genbridge"
ACTIVE = ACTIVE_STATES
LOGLINE = "A lighthouse keeper finds a log dated tomorrow."


def strips(scene):
    editor = scene.sequence_editor
    if editor is None:
        return []
    coll = editor.strips if hasattr(editor, "strips") else editor.sequences
    return sorted(coll, key=lambda s: (s.frame_final_start, s.channel))


def all_finished(session) -> bool:
    return bool(session.jobs) and not any(r.get("state") in ACTIVE for r in session.jobs.values())


def fresh_scene():
    bpy.ops.wm.read_homefile()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 24, 1.0, 1
    return scene


def start_storyboard(session, pump_until, shots: int = 3):
    scene = fresh_scene()
    assert bpy.ops.genbridge.storyboard_from_logline(logline=LOGLINE, shots=shots) == {"FINISHED"}
    board = scene.genbridge_storyboard
    pump_until(session, lambda: len(board.shots) == shots, timeout=60)
    return scene, board


def test_storyboard_places_one_keyframe_and_one_clip_per_shot_in_order(gb, storyboard_services, pump_until):
    with storyboard_services(node_delay=0.01, clip_step_delay=0.01) as (session, _, _):
        scene, board = start_storyboard(session, pump_until)
        pump_until(session, lambda: board.status.startswith("done"), timeout=90)
        assert board.status == "done"
        shown = strips(scene)
        images = [s for s in shown if s.type == "IMAGE"]
        movies = [s for s in shown if s.type == "MOVIE"]
        assert [s.channel for s in images] == [1, 1, 1] and [s.channel for s in movies] == [2, 2, 2]
        assert [s.frame_final_start for s in images] == [1, 97, 181]
        assert [s.frame_final_start for s in movies] == [1, 97, 181]
        assert [s.frame_final_duration for s in images] == [96, 84, 60]
        takes = [shot.takes[0] for shot in board.shots]
        assert [s["genbridge_job_id"] for s in images] == [t.keyframe_job for t in takes]
        assert [s["genbridge_job_id"] for s in movies] == [t.clip_job for t in takes]
        assert all(t.keyframe_service == "comfyui" and t.clip_service == "wan2gp" for t in takes)
        clip_rows = [session.jobs[t.clip_job] for t in takes]
        assert [r["depends_on"] for r in clip_rows] == [[t.keyframe_job] for t in takes]
        assert '"shots"' in bpy.data.texts[board.text_name].as_string()  # the shot list streamed into a Text


def test_a_second_storyboard_in_the_same_scene_starts_after_the_first_and_keeps_its_layout(
    gb, storyboard_services, pump_until
):
    """Found in the real GUI: a second Storyboard in the same scene landed on the channels and frames the first one's
    strips held, so its shown takes were left on the archive channels 3-4. It now starts after the first."""
    with storyboard_services(node_delay=0.01, clip_step_delay=0.01) as (session, _, _):
        scene, board = start_storyboard(session, pump_until, shots=2)
        pump_until(session, lambda: board.status.startswith("done"), timeout=90)
        first = {s.name: (s.channel, s.frame_final_start, s.frame_final_end, s.mute) for s in strips(scene)}
        end = max(e for _, _, e, _ in first.values())
        assert len(first) == 4 and end == 181
        assert bpy.ops.genbridge.storyboard_from_logline(logline=LOGLINE, shots=2) == {"FINISHED"}
        assert board.start_frame == end
        pump_until(session, lambda: len(board.shots) == 2 and board.status.startswith("done"), timeout=90)
        ids = {job for shot in board.shots for take in shot.takes for job in (take.keyframe_job, take.clip_job)}
        second = [s for s in strips(scene) if s["genbridge_job_id"] in ids]
        assert sorted((s.type, s.channel, s.frame_final_start, s.mute) for s in second) == [
            ("IMAGE", 1, 181, False),
            ("IMAGE", 1, 277, False),
            ("MOVIE", 2, 181, False),
            ("MOVIE", 2, 277, False),
        ]
        kept = {s.name: (s.channel, s.frame_final_start, s.frame_final_end, s.mute) for s in strips(scene)}
        assert {name: kept[name] for name in first} == first  # the first storyboard's strips were not touched


def test_regenerating_a_keyframe_adds_a_take_and_keeps_the_first(gb, storyboard_services, pump_until):
    with storyboard_services(node_delay=0.01, clip_step_delay=0.01) as (session, _, _):
        scene, board = start_storyboard(session, pump_until, shots=2)
        pump_until(session, lambda: board.status.startswith("done"), timeout=90)
        first = board.shots[1].takes[0].keyframe_job
        assert bpy.ops.genbridge.storyboard_regenerate_keyframe(shot_index=1) == {"FINISHED"}
        pump_until(session, lambda: all_finished(session) and board.shots[1].takes[1].clip_state == "done", 60)
        shot = board.shots[1]
        assert len(shot.takes) == 2 and shot.takes[0].keyframe_job == first and shot.chosen == 0
        by_job = {s["genbridge_job_id"]: s for s in strips(scene)}
        assert by_job[first].channel == 1 and not by_job[first].mute
        new = shot.takes[1]
        assert (by_job[new.keyframe_job].channel, by_job[new.keyframe_job].mute) == (5, True)
        assert bpy.ops.genbridge.storyboard_pick_take(shot_index=1, take_index=1) == {"FINISHED"}
        assert (by_job[new.keyframe_job].channel, by_job[new.clip_job].channel) == (1, 2)
        assert by_job[first].mute and by_job[first].channel == 3
        assert len([s for s in strips(scene) if s.type == "IMAGE"]) == 3  # nothing was deleted
        # As from F3 search: no shot index, so the shot under the playhead; no take index, so the next take.
        core = importlib.import_module(f"{gb.__name__}.storyboard")
        ranges = core.layout(gb.storyboard.props.read_shots(board), board.fps, board.start_frame)
        scene.frame_current = ranges[1].start
        assert bpy.ops.genbridge.storyboard_pick_take() == {"FINISHED"}
        assert board.shots[1].chosen == 0 and not by_job[first].mute and by_job[first].channel == 1


def test_cancelling_midway_keeps_finished_shots_and_leaves_no_running_job(gb, storyboard_services, pump_until):
    with storyboard_services(node_delay=0.01, clip_step_delay=0.15) as (session, _, wan):
        scene, board = start_storyboard(session, pump_until)
        pump_until(session, lambda: board.shots[0].takes[0].clip_state == "done", timeout=60)
        assert bpy.ops.genbridge.storyboard_cancel() == {"FINISHED"}
        pump_until(session, lambda: all_finished(session), timeout=30)
        states = [(t.keyframe_state, t.clip_state) for shot in board.shots for t in shot.takes]
        assert states[0] == ("done", "done")
        assert "cancelled" in {s for pair in states[1:] for s in pair}
        movies = [s for s in strips(scene) if s.type == "MOVIE"]
        assert movies and movies[0]["genbridge_job_id"] == board.shots[0].takes[0].clip_job
        assert len(movies) < 3
        deadline = time.monotonic() + 10
        while wan.active is not None and not wan.active.done and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wan.active is None or wan.active.done, "the WanGP server still runs a cancelled clip"


def test_invoke_keeps_a_shot_count_given_to_the_operator_and_else_takes_the_panels(gb):
    """Invoked (button, F3, a script's INVOKE_DEFAULT), the dialog starts from the panel's count unless the caller
    gave one: an INVOKE with shots=3 used to plan the panel's count instead."""
    import types

    scene = fresh_scene()
    board = scene.genbridge_storyboard
    board.shot_count, board.logline = 4, "A keeper finds a log."
    op_class = gb.storyboard.operators.GENBRIDGE_OT_storyboard_from_logline
    dialogs = []
    context = types.SimpleNamespace(
        scene=scene, window_manager=types.SimpleNamespace(invoke_props_dialog=lambda op, width: dialogs.append(op))
    )

    def invoke(**given):
        fake = types.SimpleNamespace(logline="", shots=given.get("shots", 5))
        fake.properties = types.SimpleNamespace(is_property_set=lambda name: name in given)
        op_class.invoke(fake, context, None)
        return fake

    assert invoke(shots=3).shots == 3
    given_none = invoke()
    assert (given_none.shots, given_none.logline) == (4, "A keeper finds a log.") and len(dialogs) == 2
