"""The cast core: characters from the shot list, reference keyframes with descriptions and seeds, the cast file."""

from __future__ import annotations

from pathlib import Path

import pytest
from genbridge import storyboard as sb
from genbridge.backends.comfyui.references import REFERENCE_FALLBACK_KEY as CLIENT_KEY
from genbridge.storyboard.cast import (
    REFERENCE_FALLBACK_KEY,
    Cast,
    CastError,
    Character,
    Reference,
    character_seed,
    read_cast_file,
)

SHOTLIST = {
    "shots": [
        {"description": "Mara and the keeper argue on the pier", "duration": 3, "characters": ["Mara", "the keeper"]},
        {"description": "Waves crash on empty rocks", "duration": 2, "characters": []},
        {"description": "Mara climbs the stairs", "duration": 2, "characters": ["Mara"]},
    ]
}


def cast_with_refs(tmp_path: Path) -> Cast:
    cast = Cast()
    cast.add_from_shots(sb.shots_from_shotlist(SHOTLIST))
    for c, name in zip(cast.characters, ("mara.png", "keeper.png"), strict=True):
        (tmp_path / name).write_bytes(b"png")
        c.references.append(Reference(str(tmp_path / name), "camera", {"camera": "Cam", "frame": 1}))
    cast.get("Mara").description = "red-haired lighthouse keeper's daughter, green raincoat"  # type: ignore[union-attr]
    return cast


def test_the_shot_list_characters_join_the_cast_once_without_references():
    cast = Cast()
    assert cast.add_from_shots(sb.shots_from_shotlist(SHOTLIST)) == ["Mara", "the keeper"]
    assert cast.add_names(["mara", "The Keeper"]) == []  # names match case-insensitively
    assert [c.references for c in cast.characters] == [[], []]
    assert cast.get("MARA").seed == character_seed("Mara") >= 0  # type: ignore[union-attr]


def test_a_shot_with_two_cast_members_is_a_reference_job_naming_both(tmp_path):
    cast = cast_with_refs(tmp_path)
    shots = sb.shots_from_shotlist(SHOTLIST)
    specs = sb.plan_storyboard(shots, group="g", options=sb.StoryboardOptions(), cast=cast)
    key = specs[0]
    assert key["task"] == "character_image" and key["template"] == "flux_kontext_cast_pair"
    assert key["inputs"]["image"] == str(tmp_path / "mara.png")
    assert key["inputs"]["image_2"] == str(tmp_path / "keeper.png")
    assert "Mara (red-haired lighthouse keeper's daughter, green raincoat)" in key["inputs"]["prompt"]
    assert key["inputs"]["seed"] == cast.get("Mara").seed  # type: ignore[union-attr]
    refs = key["inputs"]["cast"]["references"]
    assert [r["character"] for r in refs] == ["Mara", "the keeper"] and refs[0]["provenance"]["camera"] == "Cam"
    assert "keeps Mara, the keeper" in key["inputs"]["cast"]["why"]
    assert key["inputs"][REFERENCE_FALLBACK_KEY] == {
        "allowed": False,
        "task": "keyframe",
        "template": None,
        "drop": ["image", "image_2"],
    }
    step = shots[0].takes[0].keyframe
    assert step.references == [f"Mara: {tmp_path / 'mara.png'}", f"the keeper: {tmp_path / 'keeper.png'}"]
    # The clip still starts from that keyframe.
    assert specs[1]["inputs"]["start_image"] == {"$output_of": key["id"], "index": 0}
    # One cast member: the single-reference template, the same seed as in shot 1.
    third = specs[4]
    assert third["template"] == "flux_kontext_cast" and "image_2" not in third["inputs"]
    assert third["inputs"]["seed"] == key["inputs"]["seed"]


def test_a_shot_without_cast_keeps_the_plain_text_to_image_keyframe(tmp_path):
    shots = sb.shots_from_shotlist(SHOTLIST)
    specs = sb.plan_storyboard(shots, group="g", cast=cast_with_refs(tmp_path))
    plain = specs[2]
    assert plain["task"] == "keyframe" and plain["template"] is None
    assert not {"image", "image_2", "cast", REFERENCE_FALLBACK_KEY} & set(plain["inputs"])
    assert plain["inputs"]["seed"] == -1
    # Members without references yet: text to image, described, and the plan says why.
    bare = Cast([Character("Mara", "tall")])
    spec = sb.plan_storyboard(sb.shots_from_shotlist(SHOTLIST), group="g", cast=bare)[0]
    assert spec["task"] == "keyframe" and "Mara (tall)" in spec["inputs"]["prompt"]
    assert spec["inputs"]["seed"] == bare.get("Mara").seed  # type: ignore[union-attr]
    assert "has a reference image" in spec["inputs"]["cast"]["why"]


def test_regenerating_a_keyframe_keeps_the_references_and_the_seed(tmp_path):
    cast = cast_with_refs(tmp_path)
    shots = sb.shots_from_shotlist(SHOTLIST)
    first = sb.plan_storyboard(shots, group="g", cast=cast)[0]
    again = sb.plan_take(shots, 0, group="g", cast=cast)[0]
    assert again["id"] != first["id"] and len(shots[0].takes) == 2
    for key in ("image", "image_2", "seed", "cast"):
        assert again["inputs"][key] == first["inputs"][key]
    assert shots[0].takes[1].keyframe.references == shots[0].takes[0].keyframe.references


def test_the_fallback_option_travels_with_the_job_and_the_keys_agree(tmp_path):
    options = sb.StoryboardOptions(allow_text_fallback=True, keyframe_template="sdxl_txt2img")
    spec = sb.plan_storyboard(
        sb.shots_from_shotlist(SHOTLIST), group="g", options=options, cast=cast_with_refs(tmp_path)
    )
    assert spec[0]["inputs"][REFERENCE_FALLBACK_KEY]["allowed"] is True
    assert spec[0]["inputs"][REFERENCE_FALLBACK_KEY]["template"] == "sdxl_txt2img"
    assert CLIENT_KEY == REFERENCE_FALLBACK_KEY


def test_a_cast_file_gives_names_descriptions_references_and_seeds(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "mara.png").write_bytes(b"png")
    path = tmp_path / "cast.toml"
    path.write_text(
        '[[characters]]\nname = "Mara"\ndescription = "red hair"\nreferences = ["refs/mara.png"]\nseed = 42\n'
        '[[characters]]\nname = "the keeper"\n'
    )
    cast = read_cast_file(path)
    assert [c.name for c in cast.characters] == ["Mara", "the keeper"]
    assert cast.characters[0].references[0].path == str((tmp_path / "refs" / "mara.png").resolve())
    assert cast.characters[0].seed == 42 and cast.characters[1].seed == character_seed("the keeper")
    assert Cast.from_data(cast.to_data()) == cast


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[characters]]\nname = \n", "not valid TOML"),
        ("title = 'x'\n", "no [[characters]] tables"),
        ("[[characters]]\ndescription = 'x'\n", 'no name. Give the name the shot list uses, e.g. name = "Mara"'),
        ("[[characters]]\nname = 'A'\n[[characters]]\nname = 'a'\n", "in the file twice"),
        ("[[characters]]\nname = 'A'\nreferences = ['nope.png']\n", "nope.png does not exist"),
        ("[[characters]]\nname = 'A'\nreferences = [1]\n", "references must be a list of image paths"),
        ("[[characters]]\nname = 'A'\nseed = 'x'\n", "seed must be a whole number"),
        ("[[characters]]\nname = 'A'\nlooks = 'x'\n", "unknown key(s) looks"),
    ],
)
def test_a_bad_cast_file_says_what_where_and_how_to_fix(tmp_path, text, message):
    path = tmp_path / "cast.toml"
    path.write_text(text)
    with pytest.raises(CastError) as err:
        read_cast_file(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_missing_cast_file_shows_the_format(tmp_path):
    with pytest.raises(CastError, match=r"(?s)does not exist.*\[\[characters\]\]"):
        read_cast_file(tmp_path / "none.toml")
