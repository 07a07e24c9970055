"""The Generate section built from the template, in real bpy: picking a template fills typed parameter rows (also
from a user template folder), their values go into the queued job's inputs, a switch keeps same-named values, and
scripts give values through the operator's `params`."""

from __future__ import annotations

import json

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


class _Recorded:
    """The settings (attribute access passes through) and the specs sent."""

    def __init__(self, settings, sent):
        object.__setattr__(self, "_settings", settings)
        object.__setattr__(self, "sent", sent)

    def __getattr__(self, name):
        return getattr(self._settings, name)

    def __setattr__(self, name, value):
        setattr(self._settings, name, value)


@pytest.fixture
def settings(gb, monkeypatch):
    """The window scene's generate settings with the session's submit recording specs instead of queuing."""
    session = gb.blender.running()
    sent: list[dict] = []

    def submit(spec):
        sent.append(spec)
        return f"{len(sent):08d}-recorded"

    monkeypatch.setattr(session, "submit", submit)
    scene = bpy.context.window_manager.windows[0].scene
    settings = scene.genbridge
    yield _Recorded(settings, sent)
    settings.template = ""
    settings.params.clear()
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.template_dirs = ""


def test_picked_template_rows_are_typed_and_their_values_reach_the_job(settings, editor, tmp_path):
    sent = settings.sent
    settings.template = "sd15_img2img"
    rows = {row.name: row for row in settings.params}
    assert settings.params_template == "sd15_img2img"
    kinds = {name: row.kind for name, row in rows.items()}
    assert kinds["prompt"] == "prompt" and kinds["image"] == "image" and kinds["sampler"] == "choice"
    assert kinds["seed"] == "seed" and kinds["steps"] == "int" and kinds["strength"] == "float"
    rows["steps"].int_value = 999
    assert rows["steps"].int_value == 150  # the sidecar's range holds in the panel
    rows["strength"].float_value = 5.0
    assert rows["strength"].float_value == 1.0
    rows["sampler"].choice = "heun"
    assert rows["sampler"].string_value == "heun"
    rows["prompt"].string_value = "a lighthouse at dusk"
    rows["steps"].int_value = 12
    picture = bpy.data.images.new("gb_param_input", 8, 8)
    picture.filepath_raw = str(tmp_path / "input.png")
    picture.file_format = "PNG"
    picture.save()
    bpy.data.images.remove(picture)
    rows["image"].image_source = "FILE"
    rows["image"].image_path = str(tmp_path / "input.png")
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate() == {"FINISHED"}
    (spec,) = sent
    assert spec["template"] == "sd15_img2img"
    inputs = spec["inputs"]
    assert (inputs["prompt"], inputs["steps"], inputs["sampler"]) == ("a lighthouse at dusk", 12, "heun")
    assert inputs["strength"] == 1.0 and inputs["image"] == str(tmp_path / "input.png")

    # Switching template keeps the values that share a name; a script's params win over the panel's.
    settings.template = "sd15_depth_controlnet"
    rows = {row.name: row for row in settings.params}
    assert rows["steps"].int_value == 12 and rows["prompt"].string_value == "a lighthouse at dusk"
    assert rows["sampler"].string_value == "heun" and rows["image"].image_source == "FILE"
    assert "control_strength" in rows
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate(params=json.dumps({"steps": 3})) == {"FINISHED"}
    assert sent[-1]["template"] == "sd15_depth_controlnet" and sent[-1]["inputs"]["steps"] == 3

    # A required parameter left empty is named, nothing queued.
    rows["prompt"].string_value = ""
    with editor("VIEW_3D"), pytest.raises(RuntimeError, match="Fill in prompt"):
        bpy.ops.genbridge.generate()
    assert len(sent) == 2


def test_user_template_folder_from_the_preferences(settings, tmp_path):
    (tmp_path / "my_look.json").write_text("{}")
    (tmp_path / "my_look.params.toml").write_text(
        '[params.look]\ntype = "string"\nchoices = ["noir", "pastel"]\ndefault = "pastel"\n'
        '[params.grain]\ntype = "float"\nmin = 0.0\nmax = 2.0\ndefault = 0.5\n'
    )
    bpy.context.preferences.addons[PKG].preferences.template_dirs = str(tmp_path)
    # The search lists the user's templates with the bundled ones; picking one loads its parameters.
    assert bpy.ops.genbridge.pick_template(template="my_look") == {"FINISHED"}
    assert settings.template == "my_look"
    assert [(row.name, row.kind) for row in settings.params] == [("look", "choice"), ("grain", "float")]
    assert settings.params[0].choice == "pastel"
    (tmp_path / "my_look.params.toml").write_text("[params\n")
    settings.template = ""
    settings.template = "my_look"
    assert "Cannot read" in settings.params_error and len(settings.params) == 0
    settings.template = "no_such_look"
    assert 'no template called "no_such_look"' in settings.params_error and len(settings.params) == 0


@pytest.fixture
def captured(gb, monkeypatch):
    """The capture requests the operator makes ({param: options}), recorded instead of rendered (the captures
    themselves are tested in test_capture.py); the spec then goes to the recording submit."""
    session = gb.blender.running()
    asked: list[dict] = []

    def with_captures(spec, sources):
        asked.append({param: dict(options) for param, options in sources.items()})
        return {**spec, "inputs": {**spec["inputs"], **{p: f"/captured/{p}.png" for p in sources}}}

    monkeypatch.setattr(session, "with_captures", with_captures)
    return asked


def test_scripts_and_f3_choose_image_sources_through_the_operators_properties(settings, captured, editor, tmp_path):
    """`sources` (JSON) names each image parameter's source; an explicit `image_source` wins over the panel's row."""
    sent = settings.sent
    settings.template = "sd15_depth_controlnet"
    rows = {row.name: row for row in settings.params}
    rows["prompt"].string_value = "a cottage"
    rows["image"].image_source = "CAMERA"
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate(sources='{"image": "depth"}') == {"FINISHED"}
        assert bpy.ops.genbridge.generate(image_source="MIST") == {"FINISHED"}
        assert bpy.ops.genbridge.generate() == {"FINISHED"}  # the panel's own source again
    assert [asked["image"]["source"] for asked in captured] == ["depth", "mist", "camera"]
    assert sent[0]["inputs"]["image"] == "/captured/image.png" and sent[0]["template"] == "sd15_depth_controlnet"
    with editor("VIEW_3D"), pytest.raises(RuntimeError, match="no image parameter prompt"):
        bpy.ops.genbridge.generate(sources='{"prompt": "DEPTH"}')
    with editor("VIEW_3D"), pytest.raises(RuntimeError, match="'DEPHT' is no image source"):
        bpy.ops.genbridge.generate(sources='{"image": "DEPHT"}')
    with editor("VIEW_3D"), pytest.raises(RuntimeError, match="Fill in image"):
        bpy.ops.genbridge.generate(sources='{"image": "NONE"}')
    assert len(sent) == 3 and len(captured) == 3, "a refused call queues and captures nothing"

    # A template the panel does not show (a script's): two image parameters, each from its own source.
    settings.template = ""
    first = tmp_path / "first.png"
    picture = bpy.data.images.new("gb_first_frame", 8, 8)
    picture.filepath_raw, picture.file_format = str(first), "PNG"
    picture.save()
    bpy.data.images.remove(picture)
    sources = {"start_image": {"source": "FILE", "path": str(first)}, "end_image": "PREVIEW"}
    with editor("VIEW_3D"):
        result = bpy.ops.genbridge.generate(
            task="final_video",
            template="wan21_flf2v",
            prompt="the door opens",
            sources=json.dumps(sources),
            width=320,
            height=192,
        )
    assert result == {"FINISHED"}
    # A first-last-frame template's end_image is captured at the scene's last frame unless the script says otherwise.
    end = bpy.context.scene.frame_end
    asked = {"source": "camera", "engine": "WORKBENCH", "width": 320, "height": 192, "frame": end}
    assert captured[-1] == {"end_image": asked}
    spec = sent[-1]
    assert spec["template"] == "wan21_flf2v"
    assert (spec["inputs"]["start_image"], spec["inputs"]["end_image"]) == (str(first), "/captured/end_image.png")
    with editor("VIEW_3D"), pytest.raises(RuntimeError, match="in 'params' or in 'sources', not in both"):
        bpy.ops.genbridge.generate(
            template="wan21_flf2v", prompt="x", sources='{"start_image": "DEPTH"}', params='{"start_image": "/a.png"}'
        )
