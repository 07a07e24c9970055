"""User template folders (broken templates listed, never fatal), WanGP presets, and the templates command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genbridge.cli import main
from genbridge.runtime.errors import RejectedInput
from genbridge.runtime.settings import Settings
from genbridge.workflows import get_template, list_templates, load_wan2gp_presets, wan2gp_preset

GOOD = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
        "_meta": {"title": "Canvas"},
    },
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}


@pytest.fixture()
def user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "solid.json").write_text(json.dumps(GOOD))
    (folder / "solid.params.toml").write_text(
        'kind = "image"\ndescription = "A solid colour."\n[params.size]\ntype = "int"\ndefault = 64\nmin = 8\n'
        'max = 512\nbind = ["Canvas.width", "Canvas.height"]\n'
    )
    (folder / "ui_saved.json").write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}))
    (folder / "not_json.json").write_text("{oops")
    (folder / "sd15_txt2img.json").write_text(json.dumps(GOOD))  # shadows the bundled one
    return folder


def test_user_templates_are_listed_and_broken_ones_carry_their_error(user_dir: Path) -> None:
    infos = {i.name: i for i in list_templates(Settings(template_dirs=[str(user_dir)]))}
    assert infos["solid"].error == "" and infos["solid"].kind == "image" and infos["solid"].source == "user"
    assert "UI format" in infos["ui_saved"].error
    assert "is not valid JSON" in infos["not_json"].error
    assert infos["sd15_txt2img"].source == "user"
    assert infos["wan21_t2v"].source == "bundled"


def test_one_parameter_can_drive_several_inputs(user_dir: Path) -> None:
    tpl = get_template("solid", Settings(template_dirs=[str(user_dir)]))
    out = tpl.customize(size=128)
    assert (out["1"]["inputs"]["width"], out["1"]["inputs"]["height"]) == (128, 128)


def test_asking_for_a_broken_template_raises_its_error(user_dir: Path) -> None:
    with pytest.raises(RejectedInput, match=r'The template "ui_saved" is broken: .*UI format'):
        get_template("ui_saved", Settings(template_dirs=[str(user_dir)]))


def test_unknown_template_lists_the_available_ones() -> None:
    with pytest.raises(RejectedInput) as info:
        get_template("nope")
    assert info.value.message == 'There is no workflow template called "nope".'
    assert "sd15_txt2img" in info.value.hint


def test_wan2gp_presets_give_valid_frame_counts_and_profiles() -> None:
    presets = load_wan2gp_presets()
    assert {"wan21_t2v_1_3b", "wan22_ti2v_5b", "ltxv_distilled"} <= set(presets)
    for preset in presets.values():
        settings = preset.settings(quick=True)
        frames = settings["video_length"]
        assert (frames - 1) % preset.frames_steps == 0 and frames >= preset.frames_minimum
        assert 1 <= preset.profile <= 5
    assert wan2gp_preset("t2v_1.3B") == presets["wan21_t2v_1_3b"]
    assert presets["ltxv_distilled"].snap_frames(50) == 49


def test_scene_presets_name_models_the_captured_wan2gp_catalogue_has() -> None:
    """The scene templates' WanGP side (TI2V 5B, first-last frame): models WanGP 12.60 lists, within its limits."""
    from genbridge.standins.fixtures import load_fixture

    catalogue = {m["model_type"]: m for m in load_fixture("wan2gp", "50_video_model_catalog_derived.json")["models"]}
    presets = load_wan2gp_presets()
    for name in ("wan22_ti2v_5b", "wan21_flf2v_720p"):
        preset = presets[name]
        model = catalogue[preset.model_type]
        assert "image" in preset.inputs and "image" in model["inputs"]
        assert preset.settings()["video_length"] <= model["frames_maximum"]
        assert (preset.fps, preset.resolution) == (model["fps"], model["default_resolution"])


def test_presets_name_bundled_templates_whose_image_roles_the_wangp_model_takes() -> None:
    """Each bundled video template with a WanGP model has the preset that runs it, and the model takes the
    template's images: the first-last-frame one an end image too (capture 51's media roles), TI2V only a start."""
    from genbridge.standins.fixtures import load_fixture
    from genbridge.workflows.panel_params import read_panel_params
    from genbridge.workflows.wan2gp_templates import preset_for_template

    roles = {
        m["model_type"]: {r for r, on in m["media_inputs"]["image"].items() if on}
        for m in load_fixture("wan2gp", "51_video_models_compact_raw.json")["models"]
    }
    expected = {"wan21_flf2v": "flf2v_720p", "wan22_ti2v_i2v": "ti2v_2_2", "wan21_i2v": "i2v", "wan21_t2v": "t2v_1.3B"}
    for template, model_type in expected.items():
        preset = preset_for_template(template)
        assert preset is not None and preset.model_type == model_type, template
        images = {p.name for p in read_panel_params(template) if p.kind == "image"}
        needed = {"start"} if images & {"image", "start_image"} else set()
        needed |= {"end"} if "end_image" in images else set()
        assert needed <= roles[model_type], (template, needed, roles[model_type])
    assert "end" not in roles["ti2v_2_2"]  # so an end image is refused for it before sending
    assert preset_for_template("sd15_img2img") is None
    assert preset_for_template("/somewhere/wan21_flf2v.json") == preset_for_template("wan21_flf2v")


def test_cli_list_show_and_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "genbridge.toml"
    config.write_text("")
    assert main(["--config", str(config), "templates", "list"]) == 0
    assert "wan21_i2v" in capsys.readouterr().out
    assert main(["--config", str(config), "templates", "show", "sd15_txt2img", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["params"]["steps"]["binds"] == ["5.steps"]
    assert main(["--config", str(config), "templates", "check", "wan21_i2v", "--set", "frames=49"]) == 0
    assert "wan21_i2v: OK" in capsys.readouterr().out
    assert main(["--config", str(config), "templates", "check", "sd15_txt2img", "--set", "steps=0"]) == 2
    assert "steps: 0 is below the minimum 1" in capsys.readouterr().err


def test_cli_check_against_a_server_names_missing_nodes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import asyncio
    import threading

    from genbridge.standins.comfyui import ComfyUIStandIn

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    standin = asyncio.run_coroutine_threadsafe(ComfyUIStandIn().start(), loop).result(timeout=10)
    del standin.object_info["CLIPTextEncode"]  # a server built without that node class
    try:
        config = tmp_path / "genbridge.toml"
        config.write_text("")
        url = f"http://127.0.0.1:{standin.port}"
        assert main(["--config", str(config), "templates", "check", "sd15_txt2img", "--server", url]) == 1
        out = capsys.readouterr().out
        assert f"The workflow cannot run on {url}: missing custom nodes: CLIPTextEncode (nodes 2, 3)" in out
        assert "missing models: checkpoints/v1-5-pruned-emaonly-fp16.safetensors (node 1)" in out
    finally:
        asyncio.run_coroutine_threadsafe(standin.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_no_submodule_of_the_workflows_package_shadows_an_api_name():
    import pkgutil

    import genbridge.workflows as package
    import genbridge.workflows.api as api

    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert submodules & set(api.__all__) == set()
