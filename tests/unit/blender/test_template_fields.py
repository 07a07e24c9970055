"""The template's parameters for the panel: the stdlib sidecar reader and the rows it fills (no Blender)."""

from __future__ import annotations

import re
import sys
from types import SimpleNamespace

import pytest
from genbridge.blender.template_fields import fill, missing_required, remembered, template_inputs
from genbridge.workflows.panel_params import PanelParam, ParamsUnreadable, field_kind, read_panel_params


class Rows(list):
    """A stand-in for Blender's CollectionProperty: clear() and add() returning a blank row."""

    def add(self):
        item = SimpleNamespace(
            int_min=0, int_max=0, float_min=0.0, float_max=0.0, string_value="", int_value=0, float_value=0.0
        )
        self.append(item)
        return item


def test_bundled_sidecar_becomes_typed_fields():
    params = {p.name: p for p in read_panel_params("sd15_depth_controlnet")}
    assert params["prompt"].kind == "prompt" and params["prompt"].required
    assert params["image"].kind == "image"
    assert params["seed"].kind == "seed"
    assert params["steps"].kind == "int" and (params["steps"].min, params["steps"].max) == (1, 150)
    assert params["cfg"].kind == "float"
    assert params["sampler"].kind == "choice" and "euler" in params["sampler"].choices
    assert params["checkpoint"].kind == "string"


def test_reader_imports_no_pydantic():
    import subprocess

    code = (
        "import sys, genbridge.workflows.panel_params, genbridge.blender.template_fields;"
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_user_folder_template_is_read_and_shadows_a_bundled_one(tmp_path):
    (tmp_path / "sd15_txt2img.json").write_text("{}")
    (tmp_path / "sd15_txt2img.params.toml").write_text('[params.style]\ntype = "string"\nchoices = ["a", "b"]\n')
    (tmp_path / "mine.json").write_text("{}")
    (tmp_path / "mine.params.toml").write_text('[params.strength]\ntype = "float"\nmin = 0.0\nmax = 1.0\n')
    assert [p.name for p in read_panel_params("sd15_txt2img", [str(tmp_path)])] == ["style"]
    assert [(p.name, p.kind) for p in read_panel_params("mine", [str(tmp_path)])] == [("strength", "float")]
    assert read_panel_params("mine") == []  # not configured: no rows


def test_broken_sidecar_names_the_file_and_the_fault(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    (tmp_path / "bad.params.toml").write_text('[params.steps]\ntype = "int"\nmin = "abc"\n')
    with pytest.raises(ParamsUnreadable, match=r"bad\.params\.toml.*min.*must be a number"):
        read_panel_params("bad", [str(tmp_path)])
    (tmp_path / "bad.params.toml").write_text("[params\n")
    with pytest.raises(ParamsUnreadable, match="Cannot read"):
        read_panel_params("bad", [str(tmp_path)])


def test_field_kinds():
    assert field_kind("negative_prompt", {"type": "string"}) == "prompt"
    assert field_kind("noise", {"type": "int", "random": True}) == "seed"
    assert field_kind("ckpt", {"type": "model"}) == "string"


def test_switching_template_keeps_values_that_share_a_name():
    rows = Rows()
    generic = {"prompt": "a red cube", "width": 832, "height": 480, "steps": 20, "seed": -1}
    fill(rows, read_panel_params("sd15_img2img"), {}, generic)
    by = {r.name: r for r in rows}
    assert by["prompt"].string_value == "a red cube"  # from the generic field
    by["steps"].int_value = 33
    by["prompt"].string_value = "a blue cube"
    by["image"].image_source = "CAMERA"
    kept = remembered(rows)
    fill(rows, read_panel_params("sd15_depth_controlnet"), kept, generic)
    by = {r.name: r for r in rows}
    assert by["steps"].int_value == 33 and by["prompt"].string_value == "a blue cube"
    assert by["image"].image_source == "CAMERA"
    assert by["control_strength"].float_value == 1.0  # new name: the sidecar's default


def test_inputs_from_rows_with_ranges_and_overrides():
    rows = Rows()
    fill(rows, read_panel_params("sd15_depth_controlnet"), {}, {"prompt": "hi"})
    by = {r.name: r for r in rows}
    by["steps"].int_value = 999  # a script bypassed the update clamp
    by["image"].image_source, by["image"].image_path, by["image"].image_name = "DEPTH", "", ""
    inputs, images = template_inputs(rows, {"cfg": 4.5})
    assert inputs["steps"] == 150 and inputs["cfg"] == 4.5 and inputs["prompt"] == "hi"
    assert inputs["seed"] == -1  # random stays random although the sidecar's range starts at 0
    assert images == {"image": ("DEPTH", "", "")}
    by["image"].image_source = "NONE"
    by["prompt"].string_value = ""
    inputs, images = template_inputs(rows)
    assert missing_required(rows, inputs, images) == ["prompt", "image"]


def test_template_names_list_bundled_and_user_templates(tmp_path):
    from genbridge.workflows.panel_params import template_names

    (tmp_path / "mine.json").write_text("{}")
    (tmp_path / "mine.params.json").write_text("{}")
    (tmp_path / "sd15_txt2img.json").write_text("{}")
    names = dict(template_names([str(tmp_path), str(tmp_path / "missing")]))
    assert names["mine"] == str(tmp_path) and names["sd15_txt2img"] == str(tmp_path)  # the user's shadows
    assert names["sd15_depth_controlnet"] == "bundled" and "mine.params" not in names


def _switch(rows, memory_text, template, generic=None):
    """What the Scene's template update does: remember the rows being left, refill from the new template."""
    from genbridge.blender.template_fields import at_default, load_memory, remember

    kept, dropped = remembered(rows), at_default(rows)
    memory = {name: entry for name, entry in load_memory(memory_text).items() if name not in dropped}
    memory_text = remember(memory, kept)
    fill(rows, read_panel_params(template), kept, generic or {}, memory)
    return memory_text


def test_switching_a_to_b_to_a_gives_a_back_the_values_b_lacks():
    rows, memory = Rows(), ""
    memory = _switch(rows, memory, "sd15_img2img")
    by_name = {r.name: r for r in rows}
    by_name["strength"].float_value = 0.35  # img2img only
    by_name["steps"].int_value = 12  # shared
    by_name["image"].image_source, by_name["image"].image_path = "FILE", "/tmp/in.png"
    memory = _switch(rows, memory, "sd15_txt2img")  # no strength, no image
    by_name = {r.name: r for r in rows}
    assert "strength" not in by_name and by_name["steps"].int_value == 12
    by_name["steps"].int_value = 40  # changed in B: the newer value carries back
    memory = _switch(rows, memory, "sd15_img2img")
    by_name = {r.name: r for r in rows}
    assert by_name["strength"].float_value == 0.35, "A's own value came back"
    assert by_name["steps"].int_value == 40, "the shared value is B's, the latest"
    assert (by_name["image"].image_source, by_name["image"].image_path) == ("FILE", "/tmp/in.png")


def test_the_memory_is_plain_json_bounded_and_damage_is_ignored():
    from genbridge.blender.template_fields import MEMORY_LIMIT, load_memory, remember

    text = remember({}, {f"p{i}": ("int", i) for i in range(MEMORY_LIMIT + 10)})
    memory = load_memory(text)
    assert len(memory) == MEMORY_LIMIT and "p0" not in memory and memory[f"p{MEMORY_LIMIT + 9}"] == ("int", 265)
    assert load_memory("{not json") == {} and load_memory("[1, 2]") == {}
    damaged = '{"a": ["int", 3], "b": ["evil", 1], "c": ["image", ["FILE", 1, ""]], "d": "x", "e": ["string", {}]}'
    assert load_memory(damaged) == {"a": ("int", 3)}
    assert load_memory(remember({}, {"img": ("image", ("CAMERA", "", ""))})) == {"img": ("image", ("CAMERA", "", ""))}


def test_a_remembered_value_of_another_kind_or_an_invalid_choice_is_not_used():
    from genbridge.blender.template_fields import start_value
    from genbridge.workflows.panel_params import PanelParam

    choice = PanelParam(name="sampler", kind="choice", choices=("euler", "heun"), default="euler")
    assert start_value(choice, {}, {}, {"sampler": ("choice", "dpm")}) == "euler"
    assert start_value(choice, {}, {}, {"sampler": ("string", "heun")}) == "heun"
    steps = PanelParam(name="steps", kind="int", default=20)
    assert start_value(steps, {}, {}, {"steps": ("float", 3.5)}) == 20
    assert start_value(steps, {"steps": ("int", 9)}, {}, {"steps": ("int", 30)}) == 9, "the template being left wins"


def test_the_operators_sources_json_names_each_image_parameters_source():
    from genbridge.blender.template_fields import parse_sources

    assert parse_sources("") == {}
    chosen = parse_sources(
        '{"image": "depth", "start_image": {"source": "FILE", "path": "//a.png"},'
        ' "end_image": {"source": "IMAGE_EDITOR", "image": "Render Result"}, "mask": "NONE"}'
    )
    assert chosen == {
        "image": ("DEPTH", "", ""),
        "start_image": ("FILE", "//a.png", ""),
        "end_image": ("IMAGE_EDITOR", "", "Render Result"),
        "mask": ("NONE", "", ""),
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("DEPTH", "must be a JSON object"),
        ('["DEPTH"]', "must be a JSON object"),
        ('{"image": "DEPHT"}', "'DEPHT' is no image source; use one of NONE, FILE, CAMERA"),
        ('{"image": {"source": "FILE"}}', "a File source needs its path"),
        ('{"image": {"source": "DEPTH", "cam": "Cam"}}', "unknown key cam (use source, and path for File"),
        ('{"image": {"source": "FILE", "path": "a.png", "camera": "Cam"}}', "a camera is chosen only for CAMERA"),
        ('{"image": {"source": "IMAGE_EDITOR", "frame": 3}}', "a frame is chosen only for CAMERA"),
        ('{"image": {"source": "CAMERA", "camera": ""}}', '"camera" is the name of a camera object'),
        ('{"image": {"source": "CAMERA", "camera": 7}}', '"camera" is the name of a camera object'),
        ('{"image": {"source": "CAMERA", "frame": "last"}}', '"frame" is a frame number or one of current, start, end'),
        ('{"image": {"source": "CAMERA", "frame": true}}', '"frame" is a frame number'),
        ('{"image": {"source": "CAMERA", "frame": 2.5}}', '"frame" is a frame number'),
    ],
)
def test_a_wrong_sources_json_says_what_to_write(text, says):
    from genbridge.blender.template_fields import parse_sources

    with pytest.raises(ValueError, match=re.escape(says)):
        parse_sources(text)


def test_chosen_sources_win_over_the_panels_and_must_be_image_parameters():
    from genbridge.blender.template_fields import apply_sources

    rows = [SimpleNamespace(name="image", kind="image"), SimpleNamespace(name="prompt", kind="prompt")]
    panel = {"image": ("CAMERA", "", "")}
    assert apply_sources(panel, {"image": ("DEPTH", "", "")}, rows) == {"image": ("DEPTH", "", "")}
    assert apply_sources(panel, {"image": ("NONE", "", "")}, rows) == {}
    assert panel == {"image": ("CAMERA", "", "")}, "the panel's sources are not changed"
    with pytest.raises(ValueError, match=r"no image parameter prompt \(its image parameters: image\)"):
        apply_sources(panel, {"prompt": ("DEPTH", "", "")}, rows)
    assert apply_sources({}, {"any_image": ("MIST", "", "")}) == {"any_image": ("MIST", "", "")}, "no rows: unchecked"


def test_values_left_at_a_templates_default_do_not_carry_to_the_next_one():
    rows = Rows()
    memory = _switch(rows, "", "sd15_txt2img")
    by_name = {r.name: r for r in rows}
    assert (by_name["width"].int_value, by_name["scheduler"].string_value) == (512, "normal")
    by_name["height"].int_value = 768  # set by the user: carries over
    memory = _switch(rows, memory, "flux_txt2img")
    by_name = {r.name: r for r in rows}
    assert by_name["width"].int_value == 1024, "sd15's untouched 512 must not replace flux's own default"
    assert by_name["scheduler"].string_value == "simple" and by_name["height"].int_value == 768
    by_name["height"].int_value = 1024  # put back to flux's default: the older 768 must not come back later
    memory = _switch(rows, memory, "sd15_txt2img")
    assert {r.name: r for r in rows}["height"].int_value == 512


def test_sources_json_gives_each_capture_a_camera_and_a_frame():
    from genbridge.blender.template_fields import parse_source_views, parse_sources

    text = (
        '{"start_image": {"source": "CAMERA", "camera": "CamA", "frame": "Start"},'
        ' "end_image": {"source": "depth", "frame": "12"}, "image": {"source": "VIEWPORT", "frame": -3},'
        ' "mask": "MASK"}'
    )
    assert parse_sources(text)["start_image"] == ("CAMERA", "", "")
    assert parse_source_views(text) == {
        "start_image": {"camera": "CamA", "frame": "start"},
        "end_image": {"frame": 12},
        "image": {"frame": -3},
    }


def test_a_first_last_frame_template_captures_its_start_and_end_frames_by_default():
    from genbridge.blender.template_fields import default_frame

    flf = ["start_image", "end_image"]
    assert (default_frame("start_image", flf), default_frame("end_image", flf)) == ("START", "END")
    assert default_frame("start_image", ["start_image"]) == "CURRENT", "image-to-video: the frame under the playhead"
    assert default_frame("image", ["image"]) == "CURRENT"
    assert default_frame("reference_image", [*flf, "reference_image"]) == "CURRENT"


def test_fill_sets_the_image_rows_frame_from_the_template():
    params = [
        PanelParam(name="start_image", kind="image"),
        PanelParam(name="end_image", kind="image"),
        PanelParam(name="prompt", kind="prompt"),
    ]
    rows = Rows()
    fill(rows, params, {}, {})
    by = {r.name: r for r in rows}
    assert (by["start_image"].image_frame, by["end_image"].image_frame) == ("START", "END")
    fill(rows, [PanelParam(name="start_image", kind="image")], {}, {})
    assert rows[0].image_frame == "CURRENT"


def test_a_capture_takes_the_rows_camera_and_frame_and_the_scripts_keys_win():
    from genbridge.blender.template_fields import capture_view, row_view

    cam = SimpleNamespace(name="CamB")
    end = SimpleNamespace(image_camera=cam, image_frame="END", image_frame_number=1)
    number = SimpleNamespace(image_camera=None, image_frame="NUMBER", image_frame_number=7)
    assert row_view(end) == {"camera": "CamB", "frame": "end"}
    assert row_view(number) == {"camera": "", "frame": 7}
    names = ["start_image", "end_image"]
    assert capture_view("end_image", "CAMERA", row_view(end), None, names) == {"camera": "CamB", "frame": "end"}
    assert capture_view("end_image", "CAMERA", row_view(end), {"frame": 3}, names) == {"camera": "CamB", "frame": 3}
    assert capture_view("end_image", "VIEWPORT", row_view(end), None, names) == {"frame": "end"}, "no camera there"
    assert capture_view("end_image", "IMAGE_EDITOR", row_view(end), None, names) == {}
    assert capture_view("image", "DEPTH", row_view(number), None, ["image"]) == {"frame": 7}
    # No panel row (a script's template): the defaults by name, then the script's keys.
    assert capture_view("end_image", "CAMERA", None, None, names) == {"frame": "end"}
    assert capture_view("start_image", "PREVIEW", None, {"camera": "CamA"}, names) == {
        "camera": "CamA",
        "frame": "start",
    }
    assert capture_view("image", "CAMERA", None, None, ["image"]) == {}, "active camera, current frame"
