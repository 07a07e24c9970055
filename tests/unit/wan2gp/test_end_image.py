"""First-last-frame on WanGP: the end image goes up by ticket as `image_end` with `image_prompt_type` "SE", only to
models whose schema takes an end image; the bundled FLF template runs on WanGP through its preset (every contract)."""

from __future__ import annotations

from pathlib import Path

import pytest
from genbridge.runtime.jobs import Job
from genbridge.standins.placeholder import placeholder_png
from genbridge.standins.wan2gp import Wan2GPStandIn

from .test_behaviour import run_job


def images(tmp_path: Path) -> tuple[str, str]:
    first, last = tmp_path / "first.png", tmp_path / "last.png"
    first.write_bytes(placeholder_png("first", 64, 48))
    last.write_bytes(placeholder_png("last", 64, 48))
    return str(first), str(last)


def sent_settings(server) -> dict:
    (sent,) = server.generate_calls()
    return sent.get("source", sent.get("settings"))


def uploads(server) -> list:
    return [c for c in server.calls if "upload" in c[0] or c[1].get("action") == "create_gallery_upload"]


async def test_the_end_image_goes_up_by_ticket_as_image_end_with_flags_se(server, client, job_factory, tmp_path):
    first, last = images(tmp_path)
    job = job_factory(model="flf2v_720p", start_image=first, end_image=last, steps=1, resolution="832x480")
    events, outputs = await run_job(client, job, tmp_path / "dest")
    settings = sent_settings(server)
    assert settings["model_type"] == "flf2v_720p" and settings["image_prompt_type"] == "SE"
    assert settings["image_start"] != settings["image_end"]
    assert Path(server.gallery[settings["image_start"]]["_path"]).read_bytes() == Path(first).read_bytes()
    assert Path(server.gallery[settings["image_end"]]["_path"]).read_bytes() == Path(last).read_bytes()
    phases = [getattr(e, "phase", "") for e in events]
    assert "Uploading the start image" in phases and "Uploading the end image" in phases
    assert outputs[0].suffix == ".mp4"


async def test_a_start_image_alone_still_sends_flag_s_and_no_image_end(server, client, job_factory, tmp_path):
    first, _ = images(tmp_path)
    await run_job(client, job_factory(model="flf2v_720p", start_image=first, steps=1), tmp_path / "dest")
    settings = sent_settings(server)
    assert settings["image_prompt_type"] == "S" and "image_end" not in settings


async def test_a_model_without_an_end_image_is_refused_before_anything_is_sent(server, client, job_factory, tmp_path):
    first, last = images(tmp_path)
    job = job_factory(model="ti2v_2_2", start_image=first, end_image=last)
    problems = await client.validate(job)
    assert [p.field for p in problems] == ["end_image"]
    assert problems[0].message == "Wan2.2 TextImage2video 5B (ti2v_2_2) does not take an end image"
    assert "flf2v_720p" in problems[0].hint
    assert server.generate_calls() == [] and uploads(server) == []


async def test_a_text_model_names_itself_when_given_an_end_image(server, client, job_factory, tmp_path):
    first, last = images(tmp_path)
    problems = await client.validate(job_factory(model="t2v", start_image=first, end_image=last))
    assert {p.field for p in problems} == {"start_image", "end_image"}
    assert any("(t2v) does not take an end image" in p.message for p in problems)


async def test_a_missing_end_image_file_is_named(server, client, job_factory, tmp_path):
    first, _ = images(tmp_path)
    missing = str(tmp_path / "nowhere" / "last.png")
    problems = await client.validate(job_factory(model="flf2v_720p", start_image=first, end_image=missing))
    assert [(p.field, p.message) for p in problems] == [("end_image", f"{missing} does not exist")]
    assert server.generate_calls() == []


async def test_an_end_image_without_a_start_image_is_refused(server, client, job_factory, tmp_path):
    _, last = images(tmp_path)
    problems = await client.validate(job_factory(model="flf2v_720p", end_image=last))
    assert [p.field for p in problems] == ["end_image"] and "needs a start image" in problems[0].message


FLF_TEMPLATE_INPUTS = {
    # What Blender's Generate sends for the bundled wan21_flf2v template (every row, defaults included).
    "prompt": "a dolly move between two cameras",
    "negative_prompt": "blurry",
    "seed": 7,
    "steps": 2,
    "cfg": 6.0,
    "sampler": "uni_pc",
    "scheduler": "simple",
    "shift": 8.0,
    "fps": 16.0,
    "text_encoder": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    "vae": "wan_2.1_vae.safetensors",
    "model": "wan2.1_flf2v_720p_14B_fp8_e4m3fn.safetensors",
    "clip_vision": "clip_vision_h.safetensors",
    "width": 832,
    "height": 480,
    "frames": 33,
}


async def test_the_bundled_flf_template_runs_on_wangp_through_its_preset(server, client, tmp_path):
    first, last = images(tmp_path)
    job = Job(
        task="final_video",
        template="wan21_flf2v",
        inputs={**FLF_TEMPLATE_INPUTS, "start_image": first, "end_image": last},
        chosen=["sampler", "steps"],
    )
    await run_job(client, job, tmp_path / "dest")
    settings = sent_settings(server)
    assert settings["model_type"] == "flf2v_720p" and settings["image_prompt_type"] == "SE"
    assert settings["resolution"] == "832x480" and settings["video_length"] == 33
    assert settings["num_inference_steps"] == 2 and settings["seed"] == 7
    assert settings["guidance_scale"] == 6.0 and settings["flow_shift"] == 8.0 and settings["force_fps"] == "16"
    assert "sampler" not in settings and "clip_vision" not in settings
    assert job.adjustments[0].startswith("model wan2.1_flf2v_720p_14B_fp8_e4m3fn.safetensors -> flf2v_720p")
    assert job.adjustments[1] == "sampler not used: ComfyUI-only parameters of wan21_flf2v, WanGP has none"
    assert job.inputs["model"].endswith(".safetensors"), "the journaled inputs stay the template's (fallback)"


async def test_the_ti2v_template_maps_its_image_to_the_start_image(server, client, tmp_path):
    first, _ = images(tmp_path)
    job = Job(
        task="final_video",
        template="wan22_ti2v_i2v",
        inputs={"prompt": "the cube turns", "image": first, "model": "wan2.2_ti2v_5B_fp16.safetensors", "steps": 1},
    )
    await run_job(client, job, tmp_path / "dest")
    settings = sent_settings(server)
    assert settings["model_type"] == "ti2v_2_2" and settings["image_prompt_type"] == "S"
    assert Path(server.gallery[settings["image_start"]]["_path"]).read_bytes() == Path(first).read_bytes()


async def test_a_template_without_a_wangp_preset_is_refused_naming_it(server, client):
    job = Job(task="final_video", template="sd15_img2img", inputs={"prompt": "x", "model": "sd15.safetensors"})
    (problem,) = await client.validate(job)
    assert problem.field == "template" and '"sd15_img2img" has no WanGP preset' in problem.message
    assert "ComfyUI" in problem.hint


# -- the stand-in is at least as strict as WanGP about image_end ---------------------------------------------------
@pytest.mark.parametrize("contract", ["v1", "v2"])
async def test_the_standin_refuses_an_end_image_the_model_cannot_use(contract, tmp_path):
    server = Wan2GPStandIn(contract=contract, output_dir=tmp_path / "wan2gp")
    start = server._register(tmp_path / "a.png", "image")["media_id" if contract == "v2" else "gallery_id"]
    end = server._register(tmp_path / "b.png", "image")["media_id" if contract == "v2" else "gallery_id"]
    prefix = "settings." if contract == "v2" else ""
    cases = [
        ({"model_type": "ti2v_2_2", "image_start": start, "image_end": end, "image_prompt_type": "SE"},
         f"{prefix}image_end: model ti2v_2_2 does not support an end image"),
        ({"model_type": "flf2v_720p", "image_start": start, "image_end": end, "image_prompt_type": "S"},
         f"{prefix}image_end: image_prompt_type 'S' has no E, so image_end would be ignored"),
        ({"model_type": "flf2v_720p", "image_start": start, "image_prompt_type": "SE"},
         f"{prefix}image_prompt_type: E needs image_end"),
        ({"model_type": "flf2v_720p", "image_end": end, "image_prompt_type": "E"},
         f"{prefix}image_end: an end image needs image_start too"),
    ]  # fmt: skip
    for settings, message in cases:
        body = {"settings" if contract == "v2" else "source": {"prompt": "p", **settings}, "wait": False}
        with pytest.raises(Exception) as err:
            await server._tool_wangp_generate(body)
        assert str(err.value) == message
    assert server.jobs == {}
    ok = {"prompt": "p", "model_type": "flf2v_720p", "image_start": start, "image_end": end, "image_prompt_type": "SE"}
    await server._tool_wangp_generate({"settings" if contract == "v2" else "source": ok, "wait": False})
    assert len(server.jobs) == 1
    for task in list(server._tasks):
        task.cancel()


def test_the_schema_says_whether_a_model_takes_an_end_image():
    from genbridge.backends.wan2gp.models import ModelSchema
    from genbridge.standins.wan2gp.common import structured

    i2v = ModelSchema.model_validate(
        {"model_type": "i2v_2_2", **structured("07_model_schema_i2v_2_2.json")["metadata"]}
    )
    t2v = ModelSchema.model_validate({"model_type": "t2v", **structured("07_model_schema_t2v.json")["metadata"]})
    assert i2v.limits().accepts_end_image and not t2v.limits().accepts_end_image
    v2 = ModelSchema.model_validate({"model_type": "ti2v_2_2", "media_inputs": {"image": ["start"]}})
    assert v2.accepts_start_image and not v2.accepts_end_image
    flags = ModelSchema.model_validate({"model_type": "x", "image_prompt_types_allowed": "SEVL"})
    assert flags.accepts_end_image
    assert not ModelSchema.model_validate({"model_type": "x", "image_prompt_types_allowed": "TVL"}).accepts_end_image


def test_the_cli_takes_end_image_as_a_job_input_not_a_raw_setting():
    import argparse

    from genbridge.cli.generate_wan2gp import build_inputs

    args = argparse.Namespace(model="flf2v_720p", prompt="p", sets=["start_image=a.png", "end_image=b.png"])
    inputs = build_inputs(args)
    assert inputs["end_image"] == "b.png" and "settings" not in inputs


@pytest.mark.parametrize(
    ("task", "with_image", "model"),
    [("final_video", False, "t2v_1.3B"), ("quick_preview", True, "i2v"), ("video", False, "t2v_1.3B")],
)
async def test_a_video_job_without_model_or_template_uses_the_tasks_default_preset(
    server, client, tmp_path, task, with_image, model
):
    first, _ = images(tmp_path)
    inputs = {"prompt": "a boat", "width": 832, "height": 480, "frames": 17, "steps": 1}
    if with_image:
        inputs["image"] = first  # Blender's generic image input
    job = Job(task=task, inputs=inputs)
    await run_job(client, job, tmp_path / "dest")
    settings = sent_settings(server)
    assert settings["model_type"] == model
    assert job.adjustments[0].startswith(f"model {model}: no model was given")
    assert ("image_start" in settings) == with_image
    assert "model" not in job.inputs, "the journaled inputs stay as asked"


async def test_a_non_video_job_without_model_is_still_refused(server, client):
    (problem,) = await client.validate(Job(task="image", inputs={"prompt": "p"}))
    assert problem.field == "model" and problem.message == "no WanGP model type was given"
