"""The storyboard cast in real bpy: a cast member's reference rendered from the scene's camera (the default cube as
the character's model) becomes an uploaded input of every keyframe with that character, against the ComfyUI stand-in;
the shot list's characters join the cast by themselves; Regenerate Keyframe keeps the reference and the seed."""

from __future__ import annotations

from pathlib import Path

import bpy
from genbridge.runtime.vocabulary import ACTIVE_STATES

PKG = "bl_ext.user_default.genbridge"
ACTIVE = ACTIVE_STATES


def finished(session) -> bool:
    return bool(session.jobs) and not any(r.get("state") in ACTIVE for r in session.jobs.values())


def test_a_reference_rendered_from_the_scene_is_uploaded_for_every_shot_with_that_character(
    gb, storyboard_services, pump_until
):
    bpy.ops.wm.read_homefile()  # the default cube is Mara's model, the default camera frames it
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 24, 1.0, 1
    board = scene.genbridge_storyboard
    with storyboard_services() as (session, comfy, _):
        assert bpy.ops.genbridge.cast_add(member_name="Mara") == {"FINISHED"}
        board.cast[0].description = "red-haired, green raincoat"
        result = bpy.ops.genbridge.cast_add_reference(index=0, source="CAMERA", engine="WORKBENCH")
        assert result == {"FINISHED"}
        (ref,) = board.cast[0].references
        assert ref.source == "camera" and '"camera": "Camera"' in ref.provenance and Path(ref.path).is_file()
        rendered = Path(ref.path).read_bytes()

        assert bpy.ops.genbridge.storyboard_from_logline(logline="A keeper finds a log.", shots=3) == {"FINISHED"}
        pump_until(session, lambda: len(board.shots) == 3 and finished(session), timeout=120)

        assert [m.name for m in board.cast] == ["Mara", "the keeper"]  # filled from the shot list
        assert len(board.cast[1].references) == 0
        uploaded = [p.read_bytes() for p in comfy.dirs["input"].rglob("*") if p.is_file()]
        seeds = set()
        for shot in board.shots:
            take = shot.takes[0]
            row = session.jobs[take.keyframe_job]
            assert row["state"] == "done", row.get("error")
            if "Mara" in shot.characters:
                assert row["task"] == "character_image" and row["inputs"]["image"] == ref.path
                assert "Mara (red-haired, green raincoat)" in row["inputs"]["prompt"]
                assert take.keyframe_references == f"Mara: {ref.path}"
                assert "keeps Mara" in take.keyframe_cast_note
                seeds.add(take.keyframe_seed)
            else:
                assert row["task"] == "keyframe" and "image" not in row["inputs"]
                assert take.keyframe_references == ""
        assert seeds == {board.cast[0].seed}  # one seed for Mara in every shot
        assert rendered in uploaded  # the camera render itself went up

        index = next(i for i, s in enumerate(board.shots) if "Mara" in s.characters)
        assert bpy.ops.genbridge.storyboard_regenerate_keyframe(shot_index=index) == {"FINISHED"}
        again = board.shots[index].takes[1]
        assert again.keyframe_references == board.shots[index].takes[0].keyframe_references
        assert again.keyframe_seed == board.cast[0].seed
        pump_until(session, lambda: finished(session), timeout=60)
        assert session.jobs[again.keyframe_job]["state"] == "done"


def test_the_panels_camera_render_becomes_the_reference_of_the_member_it_was_made_for(gb, tmp_path):
    """The Cast panel's Camera button renders as a modal (the real GUI suite drives it); when its render is written,
    `captured` adds it to the member it was made for, looked up by name (the list may change meanwhile), and a
    render for a member removed meanwhile is deleted, not given to whoever now has that index."""
    import types

    bpy.ops.wm.read_homefile()
    board = bpy.context.scene.genbridge_storyboard
    for name in ("Mara", "the keeper"):
        assert bpy.ops.genbridge.cast_add(member_name=name) == {"FINISHED"}
    op_class = gb.storyboard.cast_ops.GENBRIDGE_OT_cast_add_reference
    reports: list[tuple[set, str]] = []

    def finish(member_name: str) -> tuple[set, Path]:
        png = tmp_path / f"{member_name}.png"
        png.write_bytes(b"\x89PNG\r\n\x1a\n")
        record = {"param": "x-1", "source": "camera", "path": str(png), "camera": "Camera"}
        fake = types.SimpleNamespace(source="CAMERA", _for=member_name, report=lambda k, m: reports.append((k, m)))
        fake._add = types.MethodType(op_class._add, fake)
        run = types.SimpleNamespace(records=[record])
        return op_class.captured(fake, bpy.context, run), png

    result, png = finish("the keeper")
    assert result == {"FINISHED"} and png.is_file()
    assert [len(m.references) for m in board.cast] == [0, 1]
    ref = board.cast[1].references[0]
    assert (ref.path, ref.source) == (str(png), "camera") and '"camera": "Camera"' in ref.provenance

    board.cast.remove(0)  # Mara removed while "the keeper"'s next render ran: the index changed, the name did not
    result, png = finish("Mara")
    assert result == {"CANCELLED"} and not png.exists()
    assert "removed while their reference rendered" in reports[-1][1]
    assert [len(m.references) for m in board.cast] == [1]
