"""The storyboard core: shots from a shot list, job specs with dependencies, the Sequencer layout, takes."""

from __future__ import annotations

import json

import pytest
from genbridge import storyboard as sb
from genbridge.standins.litellm_proxy import MOCK_SHOTLIST

OPTIONS = sb.StoryboardOptions(fps=24, start_frame=1)


def three_shots() -> list[sb.Shot]:
    return sb.shots_from_shotlist(json.loads(MOCK_SHOTLIST), OPTIONS)


def test_shots_keep_description_duration_camera_characters_and_a_prompt():
    shots = three_shots()
    assert [s.duration for s in shots] == [4, 3.5, 2.5]
    assert shots[1].characters == ["Mara"]
    assert shots[1].camera == "low angle tracking shot"
    assert shots[1].prompt.startswith("Mara climbs the spiral stairs")
    assert "Camera: low angle tracking shot." in shots[1].prompt
    assert "Characters: Mara." in shots[1].prompt


def test_limit_keeps_the_first_shots():
    shots = sb.shots_from_shotlist(json.loads(MOCK_SHOTLIST), OPTIONS, limit=2)
    assert len(shots) == 2


def test_a_shot_list_without_shots_is_refused():
    with pytest.raises(ValueError):
        sb.shots_from_shotlist({"shots": []})


def test_shotlist_job_streams_into_a_text_block_and_names_the_task():
    spec = sb.shotlist_spec("A keeper finds tomorrow's log.", shots=3, group="g", model="storyboard-mock")
    assert spec["task"] == "shotlist"
    assert spec["inputs"]["text_task"] == "shotlist"
    assert spec["inputs"]["variables"]["logline"] == "A keeper finds tomorrow's log."
    assert spec["inputs"]["model"] == "storyboard-mock"
    assert spec["target"]["kind"] == "text"


def test_every_clip_waits_for_its_own_keyframe_and_starts_from_it():
    shots = three_shots()
    specs = sb.plan_storyboard(shots, group="g", scene="Scene", options=OPTIONS)
    assert [s["task"] for s in specs] == ["keyframe", "quick_preview"] * 3
    for key, clip in zip(specs[::2], specs[1::2], strict=True):
        assert clip["depends_on"] == [key["id"]]
        assert clip["inputs"]["start_image"] == {"$output_of": key["id"], "index": 0}
        assert not key.get("depends_on")
    assert len({s["id"] for s in specs}) == 6
    assert all(s["group"] == "g" for s in specs)


def test_shots_are_laid_out_one_after_another_on_fixed_channels():
    shots = three_shots()
    specs = sb.plan_storyboard(shots, group="g", scene="Scene", options=OPTIONS)
    ranges = sb.layout(shots, 24, 1)
    assert [(r.start, r.frames) for r in ranges] == [(1, 96), (97, 84), (181, 60)]
    keys, clips = specs[::2], specs[1::2]
    assert [k["target"]["frame_start"] for k in keys] == [1, 97, 181]
    assert [c["target"]["frame_start"] for c in clips] == [1, 97, 181]
    assert {k["target"]["channel"] for k in keys} == {sb.KEYFRAME_CHANNEL}
    assert {c["target"]["channel"] for c in clips} == {sb.CLIP_CHANNEL}
    assert [k["target"]["kind"] for k in keys] == ["image_strip"] * 3
    assert [c["target"]["kind"] for c in clips] == ["movie_strip"] * 3
    assert keys[0]["target"]["duration"] == 96


def test_regenerating_a_keyframe_adds_a_take_and_keeps_the_old_one():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    first = shots[0].takes[0]
    specs = sb.plan_take(shots, 0, group="g", options=OPTIONS)
    assert len(shots[0].takes) == 2
    assert shots[0].takes[0] is first
    assert shots[0].chosen == 0  # the new take waits to be picked
    key, clip = specs
    assert clip["depends_on"] == [key["id"]]
    assert (key["target"]["channel"], clip["target"]["channel"]) == (5, 6)  # take 2's own muted channels


def test_regenerating_a_clip_reuses_the_finished_keyframe_file():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    take = shots[0].takes[0]
    sb.apply_job(
        shots,
        {
            "id": take.keyframe.job_id,
            "state": "done",
            "service": "comfyui",
            "seed": 7,
            "outputs": ["/tmp/k.png"],
            "plan": [{"reason": "images go to ComfyUI"}],
        },
    )
    (clip,) = sb.plan_take(shots, 0, group="g", options=OPTIONS, reuse_keyframe=True)
    assert clip["inputs"]["start_image"] == "/tmp/k.png"
    assert clip["depends_on"] == []
    new = shots[0].takes[1]
    assert new.keyframe.job_id == take.keyframe.job_id
    assert new.keyframe.seed == 7 and new.keyframe.reason == "images go to ComfyUI"


def test_regenerating_a_clip_without_a_finished_keyframe_is_refused():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    with pytest.raises(ValueError):
        sb.plan_take(shots, 0, group="g", options=OPTIONS, reuse_keyframe=True)


def test_picking_a_take_moves_it_to_channels_1_and_2_and_mutes_the_others():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    sb.plan_take(shots, 1, group="g", options=OPTIONS)
    old, new = shots[1].takes
    places = sb.strip_places(shots, 24, 1)
    assert (places[old.keyframe.job_id].channel, places[old.keyframe.job_id].mute) == (1, False)
    assert (places[new.clip.job_id].channel, places[new.clip.job_id].mute) == (6, True)
    shots[1].pick(1)
    places = sb.strip_places(shots, 24, 1)
    assert (places[new.keyframe.job_id].channel, places[new.keyframe.job_id].mute) == (1, False)
    assert (places[new.clip.job_id].channel, places[new.clip.job_id].mute) == (2, False)
    assert (places[old.keyframe.job_id].channel, places[old.keyframe.job_id].mute) == (3, True)
    assert places[old.clip.job_id].frame_start == 97
    with pytest.raises(IndexError):
        shots[1].pick(5)


def test_a_shared_keyframe_follows_the_chosen_take():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    key = shots[0].takes[0].keyframe
    sb.apply_job(shots, {"id": key.job_id, "state": "done", "outputs": ["/tmp/k.png"]})
    sb.plan_take(shots, 0, group="g", options=OPTIONS, reuse_keyframe=True)
    assert sb.strip_places(shots)[key.job_id].channel == 1
    shots[0].pick(1)
    assert sb.strip_places(shots)[key.job_id].channel == 1


def test_job_snapshots_record_service_seed_outputs_and_why():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    clip = shots[2].takes[0].clip
    known = sb.apply_job(
        shots,
        {
            "id": clip.job_id,
            "state": "done",
            "service": "wan2gp",
            "seed": 42,
            "outputs": ["/o/c.mp4"],
            "plan": [{"reason": "quick previews go to WanGP"}],
        },
    )
    assert known
    assert (clip.service, clip.seed, clip.output, clip.reason) == (
        "wan2gp",
        42,
        "/o/c.mp4",
        "quick previews go to WanGP",
    )
    assert not sb.apply_job(shots, {"id": "nope", "state": "done"})


def test_pending_jobs_are_the_unfinished_ones():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    done = shots[0].takes[0]
    for step in (done.keyframe, done.clip):
        sb.apply_job(shots, {"id": step.job_id, "state": "done"})
    pending = sb.pending_job_ids(shots)
    assert len(pending) == 4 and done.keyframe.job_id not in pending


def test_shots_round_trip_through_plain_data():
    shots = three_shots()
    sb.plan_storyboard(shots, group="g", options=OPTIONS)
    data = json.loads(json.dumps(sb.shots_to_data(shots)))
    assert sb.shots_to_data(sb.shots_from_data(data)) == sb.shots_to_data(shots)


def test_the_shot_under_the_playhead_is_found_from_the_layout():
    shots = [sb.Shot(description="a", duration=2.0), sb.Shot(description="b", duration=1.0)]
    assert sb.shot_at_frame(shots, 1, fps=24, start_frame=1) == 0
    assert sb.shot_at_frame(shots, 48, fps=24, start_frame=1) == 0
    assert sb.shot_at_frame(shots, 49, fps=24, start_frame=1) == 1
    assert sb.shot_at_frame(shots, 73, fps=24, start_frame=1) is None
    assert sb.shot_at_frame(shots, 0, fps=24, start_frame=1) is None
