"""Blender's Generate fills the job's `chosen` (real bpy): Scene fields changed from their defaults, operator
properties a script set, template rows changed from the sidecar's defaults and `params` keys. Against the WanGP
stand-in, a chosen LTX-2 size off the 64-pixel grid is refused naming the nearest valid size, while a size left
at the template's default is moved there and the job details say so."""

from __future__ import annotations

import importlib
import json

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"
GENERIC = ("task", "prompt", "negative_prompt", "template", "width", "height", "frames", "steps", "seed", "service")


def reset(settings) -> None:
    settings.template = ""
    settings.params.clear()
    settings.params_memory = ""
    for name in GENERIC:
        setattr(settings, name, settings.bl_rna.properties[name].default)


@pytest.fixture
def recorded(gb, monkeypatch):
    session = gb.blender.running()
    sent: list[dict] = []
    monkeypatch.setattr(session, "submit", lambda spec: sent.append(spec) or f"{len(sent):08d}-recorded")
    settings = bpy.context.window_manager.windows[0].scene.genbridge
    reset(settings)
    yield settings, sent
    reset(settings)


def test_generate_sends_as_chosen_what_the_user_set(recorded, editor, tmp_path):
    settings, sent = recorded
    settings.prompt, settings.steps = "a lighthouse", 31  # changed in the panel; size and seed left as they are
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate() == {"FINISHED"}
        assert bpy.ops.genbridge.generate(width=832, seed=5) == {"FINISHED"}  # a script sets them, even to defaults
    assert sent[0]["chosen"] == ["prompt", "steps"]
    assert sent[1]["chosen"] == ["prompt", "seed", "steps", "width"]

    settings.template = "sd15_img2img"
    rows = {row.name: row for row in settings.params}
    rows["prompt"].string_value = "a lighthouse at dusk"
    rows["steps"].int_value = 12  # changed; strength and cfg stay at the sidecar's defaults
    picture = bpy.data.images.new("gb_chosen_input", 8, 8)
    picture.filepath_raw = str(tmp_path / "input.png")
    picture.file_format = "PNG"
    picture.save()
    bpy.data.images.remove(picture)
    rows["image"].image_source, rows["image"].image_path = "FILE", str(tmp_path / "input.png")
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate(params=json.dumps({"cfg": 9.5})) == {"FINISHED"}
    spec = sent[-1]
    assert spec["chosen"] == ["cfg", "image", "prompt", "steps"]
    assert "strength" in spec["inputs"] and spec["inputs"]["steps"] == 12 and spec["inputs"]["cfg"] == 9.5

    rows["image"].image_source = "NONE"  # the panel gives none; a script's `sources` does, so it is chosen
    sources = json.dumps({"image": {"source": "FILE", "path": str(tmp_path / "input.png")}})
    with editor("VIEW_3D"):
        assert bpy.ops.genbridge.generate(sources=sources) == {"FINISHED"}
    assert sent[-1]["chosen"] == ["image", "prompt", "steps"]


@pytest.fixture
def wan2gp(gb, restart_session, tmp_path):
    from genbridge.standins.wan2gp import Wan2GPStandIn

    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.01)
    prefs = bpy.context.preferences.addons[PKG].preferences
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "ltx_look.json").write_text("{}")  # a user template meant for WanGP: its model is a model type
    (folder / "ltx_look.params.toml").write_text(
        '[params.prompt]\ntype = "string"\nrequired = true\n'
        '[params.model]\ntype = "string"\ndefault = "ltx2_22B_distilled"\n'
        '[params.width]\ntype = "int"\ndefault = 832\nmin = 64\nmax = 2048\n'
        '[params.height]\ntype = "int"\ndefault = 480\nmin = 64\nmax = 2048\n'
        '[params.frames]\ntype = "int"\ndefault = 17\n'
        '[params.steps]\ntype = "int"\ndefault = 1\n'
    )
    window = bpy.context.window_manager.windows[0]
    previous, scene = window.scene, bpy.data.scenes.new("GenBridge chosen test")
    window.scene = scene
    with standin.run_in_thread() as url:
        for service in ("comfyui", "wan2gp"):
            prefs.endpoints(service).clear()
        prefs.endpoints("wan2gp").add().url = url
        prefs.template_dirs = str(folder)
        try:
            yield restart_session(None), standin, scene.genbridge  # the real clients
        finally:
            prefs.endpoints("wan2gp").clear()
            prefs.template_dirs = ""
            bpy.context.window_manager.genbridge_jobs.clear()
            window.scene = previous
            bpy.data.scenes.remove(scene)


def test_wangp_refuses_a_chosen_ltx2_size_and_moves_one_left_open(wan2gp, editor, pump_until, fake_layout):
    session, standin, settings = wan2gp
    settings.task, settings.service, settings.template = "final_video", "wan2gp", "ltx_look"
    rows = {row.name: row for row in settings.params}
    rows["prompt"].string_value = "a fox in the snow"
    with editor("SEQUENCE_EDITOR"):
        assert bpy.ops.genbridge.generate() == {"FINISHED"}
    (first,) = session.jobs
    pump_until(session, lambda: session.jobs[first].get("state") in ("done", "failed"), timeout=60)
    job = session.jobs[first]
    assert job["state"] == "done", job.get("error")
    assert job["chosen"] == ["prompt"]
    change = "resolution 832x480 -> 832x448: LTX-2 2.3 Distilled 1.0 22B needs multiples of 64"
    assert change in job["adjustments"]
    assert standin.generate_calls()[0]["source"]["resolution"] == "832x448"
    layout = fake_layout()
    importlib.import_module(f"{PKG}.ui.draw").draw_job_detail(layout, job)
    assert change in " ".join(layout.labels()), "the job details name the change"

    rows = {row.name: row for row in settings.params}
    rows["width"].int_value, rows["height"].int_value = 896, 496  # chosen: never moved silently
    with editor("SEQUENCE_EDITOR"):
        assert bpy.ops.genbridge.generate() == {"FINISHED"}
    (second,) = set(session.jobs) - {first}
    pump_until(session, lambda: session.jobs[second].get("state") in ("done", "failed"), timeout=60)
    job = session.jobs[second]
    assert job["state"] == "failed" and job["chosen"] == ["height", "prompt", "width"]
    assert "896x496 is not valid for LTX-2 2.3 Distilled 1.0 22B" in job["error"]["message"]
    assert "multiples of 64; the nearest valid size is 896x512" in job["error"]["message"]
    assert len(standin.generate_calls()) == 1, "nothing was sent for the refused job"
