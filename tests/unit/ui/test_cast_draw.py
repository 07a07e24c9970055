"""The Cast panel and the cast line of a take, drawn with the recording layout."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.storyboard.cast_draw import draw_cast, take_cast_text
from genbridge.storyboard.draw import draw_storyboard


class Items(list):
    """A list that reads like a bpy collection (len, iteration, index)."""


def board(*members):
    return SimpleNamespace(cast=Items(members), allow_text_fallback=False)


def member(name, *refs):
    return SimpleNamespace(
        name=name,
        description="",
        seed=7,
        references=Items(SimpleNamespace(path=p, source=s, provenance="{}") for p, s in refs),
    )


def test_an_empty_cast_says_where_characters_come_from_and_offers_add(layout):
    draw_cast(layout, board())
    assert "shot list's characters appear here" in layout.text()
    assert layout.operators() == ["genbridge.cast_add"]
    assert "allow_text_fallback" in layout.props()


def test_each_member_shows_its_references_and_three_ways_to_add_one(layout):
    draw_cast(layout, board(member("Mara", ("/r/mara_cam.png", "camera")), member("the keeper")))
    assert "mara_cam.png" in layout.labels()
    assert "No reference yet: text to image only" in layout.labels()
    icons = [kw.get("icon") for args, kw in layout.calls("label") if kw.get("text") == "mara_cam.png"]
    assert icons == ["CAMERA_DATA"]
    adds = layout.operator_props("genbridge.cast_add_reference")
    assert [(p.index, p.source) for p in adds] == [
        (0, "FILE"),
        (0, "CAMERA"),
        (0, "IMAGE_EDITOR"),
        (1, "FILE"),
        (1, "CAMERA"),
        (1, "IMAGE_EDITOR"),
    ]
    (drop,) = layout.operator_props("genbridge.cast_remove_reference")
    assert (drop.index, drop.reference) == (0, 0)
    assert [p.index for p in layout.operator_props("genbridge.cast_remove")] == [0, 1]
    assert layout.props().count("name") == 2 and layout.props().count("description") == 2


def test_a_take_names_the_cast_references_its_keyframe_used(layout):
    take = SimpleNamespace(
        number=1,
        keyframe_job="k",
        clip_job="c",
        keyframe_state="done",
        clip_state="done",
        keyframe_service="comfyui",
        clip_service="wan2gp",
        keyframe_references="Mara: /r/mara.png\nthe keeper: /r/keeper.png",
    )
    shot = SimpleNamespace(description="Pier", duration=3.0, camera="", takes=[take], chosen=0)
    sb = SimpleNamespace(logline="x", shot_count=1, status="", shots=[shot], shotlist_job="")
    draw_storyboard(layout, sb, {})
    assert "Cast: Mara, the keeper" in layout.labels()
    assert take_cast_text(SimpleNamespace(keyframe_references="")) == ""


def test_the_add_reference_buttons_have_a_row_of_their_own_under_their_label(layout):
    """In the real GUI's 3D Viewport sidebar (default width) the label and the three buttons in one row were cut to
    "Add ref..." and "Ca...": the label now sits on its own line, the buttons in the row under it."""
    draw_cast(layout, board(member("Mara")))
    names = [(name, kw.get("text")) for name, _args, kw in layout.log if name in ("label", "row", "operator")]
    at = names.index(("label", "Add a reference from:"))
    assert names[at + 1] == ("row", None)
    assert [text for _name, text in names[at + 2 : at + 5]] == ["File", "Camera", "Image"]
