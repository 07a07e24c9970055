"""Switching templates A -> B -> A in real bpy: A gets back the values B did not have (kept per parameter name in
the Scene's settings as plain JSON), shared names carry the latest value, and image source choices come back too."""

from __future__ import annotations

import json

import bpy
import pytest


@pytest.fixture
def scene_settings(gb, monkeypatch):
    session = gb.blender.running()
    sent: list[dict] = []
    monkeypatch.setattr(session, "submit", lambda spec: sent.append(spec) or f"{len(sent):08d}-recorded")
    settings = bpy.context.window_manager.windows[0].scene.genbridge
    settings.template = ""
    settings.params_memory = ""
    yield settings, sent
    settings.template = ""
    settings.params.clear()
    settings.params_memory = ""


def rows_of(settings) -> dict:
    return {row.name: row for row in settings.params}


def test_a_to_b_to_a_restores_the_values_b_lacks(scene_settings, editor, tmp_path):
    settings, sent = scene_settings
    settings.template = "sd15_img2img"  # A
    rows = rows_of(settings)
    rows["strength"].float_value = 0.35  # only A has it
    rows["sampler"].choice = "heun"  # shared with B
    rows["prompt"].string_value = "a lighthouse"
    rows["image"].image_source = "CAMERA"  # only A has an image
    settings.template = "sd15_txt2img"  # B
    rows = rows_of(settings)
    assert "strength" not in rows and "image" not in rows
    assert rows["sampler"].string_value == "heun" and rows["prompt"].string_value == "a lighthouse"
    rows["prompt"].string_value = "a lighthouse in fog"  # edited in B: the newest value goes back to A
    settings.template = "sd15_img2img"  # back to A
    rows = rows_of(settings)
    assert rows["strength"].float_value == pytest.approx(0.35)
    assert rows["image"].image_source == "CAMERA"
    assert rows["sampler"].string_value == "heun" and rows["prompt"].string_value == "a lighthouse in fog"
    memory = json.loads(settings.params_memory)  # plain data in the Scene's settings
    assert memory["strength"][0] == "float" and memory["image"] == ["image", ["CAMERA", "", ""]]

    picture = bpy.data.images.new("gb_memory_input", 8, 8)  # a file instead of a capture: the values reach the job
    picture.filepath_raw = str(tmp_path / "input.png")
    picture.file_format = "PNG"
    picture.save()
    bpy.data.images.remove(picture)
    rows["image"].image_source, rows["image"].image_path = "FILE", str(tmp_path / "input.png")
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate() == {"FINISHED"}
    (spec,) = sent
    assert spec["inputs"]["strength"] == pytest.approx(0.35) and spec["inputs"]["sampler"] == "heun"


def test_generic_fields_edited_without_a_template_win_over_an_older_memory(scene_settings):
    settings, _ = scene_settings
    settings.template = "sd15_txt2img"
    rows_of(settings)["prompt"].string_value = "old prompt"
    settings.template = ""
    settings.prompt = "new prompt"
    settings.template = "sd15_txt2img"
    assert rows_of(settings)["prompt"].string_value == "new prompt"
