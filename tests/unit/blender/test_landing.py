"""Landing results with a fake bpy.data: every field comes from the job's journaled snapshot (issue 23.1, 23.7)."""

from __future__ import annotations

from genbridge.runtime.jobs import Job


def snapshot(**fields) -> dict:
    """A job as the journal and the state events carry it (validated by the real model, so no field is lost)."""
    return Job.model_validate({"task": "image", "inputs": {"prompt": "a fox"}, **fields}).snapshot()


def test_an_image_lands_with_its_name_and_provenance_without_reading_pixels(landing, bpy, tmp_path):
    row = snapshot(target={"kind": "image", "name": "Fox"}, service="comfyui", instance="http://u:pw@127.0.0.1:8188")
    image = landing.land_output(row, str(tmp_path / "fox.png"))
    assert bpy.data.images["Fox"] is image and not image.pixels_read
    assert image["genbridge_prompt"] == "a fox" and image["genbridge_service"] == "comfyui"
    assert image["genbridge_instance"] == "http://127.0.0.1:8188", "no password in the .blend"


def test_an_image_is_shown_in_the_image_editor_when_the_target_says_so(landing, bpy, tmp_path):
    from genbridge_fake_bpy import Area

    bpy.context.window_manager.windows[0].screen.areas.append(Area("IMAGE_EDITOR"))
    row = snapshot(target={"kind": "image", "name": "Shown", "show_in_image_editor": True})
    image = landing.land_output(row, str(tmp_path / "x.png"))
    assert bpy.context.window_manager.windows[0].screen.areas[-1].spaces.active.image is image


def test_a_keyframe_strip_lasts_as_long_as_the_shot_was_planned(landing, bpy, tmp_path):
    target = {"kind": "image_strip", "name": "Shot 01 key T1", "scene": "Scene", "channel": 1, "frame_start": 97}
    (tmp_path / "k.png").write_bytes(b"\x89PNG")
    strip = landing.land_output(snapshot(target={**target, "duration": 84}), str(tmp_path / "k.png"))
    assert (strip.type, strip.channel, strip.frame_start, strip.frame_final_duration) == ("IMAGE", 1, 97, 84)
    assert strip.directory + strip.elements[0].filename == str(tmp_path / "k.png")
    assert not strip.read_on_add, "the 1080p keyframe is decoded when first drawn, not inside the timer"


def test_a_re_attached_clip_lands_with_the_length_it_was_planned_with(landing, tmp_path):
    # The journal is the only record after a restart: the snapshot read back from it must still carry `duration`.
    planned = snapshot(
        task="quick_preview",
        target={"kind": "movie_strip", "name": "Shot 02 clip T1", "channel": 2, "frame_start": 25, "duration": 48},
        state="interrupted",
    )
    reread = Job.model_validate(planned).snapshot()
    strip = landing.land_output(reread, str(tmp_path / "clip.mp4"))
    assert strip.type == "MOVIE" and (strip.channel, strip.frame_start) == (2, 25)
    assert strip.frame_final_duration == 48, "the clip is cut to the shot's planned length"


def test_a_clip_shorter_than_planned_keeps_its_own_length(landing, tmp_path):
    from genbridge_fake_bpy import MOVIE_FRAMES

    row = snapshot(target={"kind": "movie_strip", "channel": 2, "frame_start": 1, "duration": MOVIE_FRAMES + 40})
    strip = landing.land_output(row, str(tmp_path / "clip.mp4"))
    assert strip.frame_final_duration == MOVIE_FRAMES, "a clip is never stretched"


def test_text_outputs_fill_the_named_text_block_once(landing, bpy, tmp_path):
    out = tmp_path / "story.txt"
    out.write_text("Once upon a time")
    row = snapshot(task="text", target={"kind": "text", "name": "Story"})
    text = landing.land_output(row, str(out))
    assert bpy.data.texts["Story"] is text and text.as_string() == "Once upon a time"
    assert text["genbridge_task"] == "text"
