"""Storyboard keyframes from the shot's camera (plan side, no Blender): the camera bound at the shot's first frame
makes its keyframe image-to-image with a capture request; shots without one stay text-to-image."""

from __future__ import annotations

from genbridge.storyboard.cast import Cast, Character, Reference
from genbridge.storyboard.model import Shot, StoryboardOptions
from genbridge.storyboard.plan import CAMERA_CAPTURE_KEY, camera_at, plan_storyboard, plan_take


def shots() -> list[Shot]:
    return [Shot("a harbour at dawn", 2.0), Shot("a gull takes off", 1.0), Shot("the boat leaves", 1.0)]


def test_the_camera_bound_at_or_before_a_frame():
    bindings = [(49, "Cam B"), (1, "Cam A")]
    assert camera_at(bindings, 0) is None
    assert camera_at(bindings, 1) == "Cam A" and camera_at(bindings, 48) == "Cam A"
    assert camera_at(bindings, 49) == "Cam B" and camera_at(bindings, 500) == "Cam B"
    assert camera_at([], 10) is None


def test_bound_shots_get_a_camera_capture_and_the_img2img_template():
    options = StoryboardOptions(fps=24, start_frame=1)
    # Shot 1 starts at 1, shot 2 at 49, shot 3 at 73; only shots 1 and 2 start under a bound marker's camera.
    specs = plan_storyboard(shots(), group="g", scene="S", options=options, cameras=[(49, "Cam B"), (1, "Cam A")])
    keys = [s for s in specs if s["task"] == "keyframe"]
    assert [k[CAMERA_CAPTURE_KEY]["camera"] for k in keys] == ["Cam A", "Cam B", "Cam B"]
    assert [k[CAMERA_CAPTURE_KEY]["frame"] for k in keys] == [1, 49, 73]
    assert all(k["template"] == "sd15_img2img" for k in keys)
    assert keys[0][CAMERA_CAPTURE_KEY] | {} == {
        "param": "image",
        "camera": "Cam A",
        "frame": 1,
        "width": options.keyframe_width,
        "height": options.keyframe_height,
    }
    clips = [s for s in specs if s["task"] != "keyframe"]
    assert all(CAMERA_CAPTURE_KEY not in c for c in clips)


def test_shots_without_a_bound_camera_stay_text_to_image():
    specs = plan_storyboard(shots(), group="g", scene="S", cameras=[(60, "Late Cam")])
    keys = [s for s in specs if s["task"] == "keyframe"]
    assert CAMERA_CAPTURE_KEY not in keys[0] and keys[0]["template"] is None  # shot 1 starts at 1, before 60
    assert keys[2][CAMERA_CAPTURE_KEY]["camera"] == "Late Cam"
    plain = plan_storyboard(shots(), group="g", scene="S")
    assert all(CAMERA_CAPTURE_KEY not in s for s in plain)


def test_a_new_take_uses_the_camera_too():
    board = shots()
    plan_storyboard(board, group="g", scene="S")
    (key, _clip) = plan_take(board, 1, group="g", scene="S", cameras=[(1, "Cam A")])
    assert key[CAMERA_CAPTURE_KEY]["camera"] == "Cam A"


def test_cast_references_win_over_the_camera(tmp_path):
    ref = tmp_path / "mara.png"
    ref.write_bytes(b"\x89PNG")
    cast = Cast([Character("Mara", "tall", [Reference(str(ref))])])
    board = [Shot("Mara waves", 1.0, characters=["Mara"])]
    (key, _clip) = plan_storyboard(board, group="g", scene="S", cameras=[(1, "Cam A")], cast=cast)
    assert key["task"] == "character_image" and CAMERA_CAPTURE_KEY not in key
