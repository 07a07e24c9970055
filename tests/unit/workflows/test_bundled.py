"""Every bundled template loads, validates against the real node schemas (the captured 478-class `/object_info`,
with and without the model files it names) and picks the right defaults."""

from __future__ import annotations

import json
from typing import Any

import pytest
from genbridge.standins.comfyui.schema import MODEL_COMBOS, build_object_info
from genbridge.standins.comfyui.validation import validate_prompt
from genbridge.workflows import (
    DEFAULT_TEMPLATES,
    apply_uploaded_names,
    get_template,
    image_uploads,
    list_templates,
    preflight,
    resolve_workflow,
)

BUNDLED = [
    "sd15_txt2img",
    "sdxl_txt2img",
    "flux_txt2img",
    "sd15_img2img",
    "flux_kontext_character",
    "flux_kontext_cast",
    "flux_kontext_cast_pair",
    "upscale_model",
    "wan21_t2v",
    "wan21_i2v",
    "sd15_depth_controlnet",
    "sdxl_depth_controlnet",
    "flux_kontext_restyle",
    "wan22_ti2v_i2v",
    "wan21_flf2v",
]


def _defaults(name: str, image: str) -> dict[str, Any]:
    tpl = get_template(name)
    params: dict[str, Any] = {"seed": 7} if "seed" in tpl.params else {}
    if "prompt" in tpl.params:
        params["prompt"] = "a red fox"
    for name, spec in tpl.params.items():
        if spec.type == "image":
            params[name] = image
    return params


def _as_sent(name: str, image: str) -> dict[str, Any]:
    """The graph as GenBridge posts it: local images replaced by the name the server gave the upload."""
    workflow = get_template(name).customize(**_defaults(name, image))
    return apply_uploaded_names(workflow, {node_id: "ref.png" for node_id in image_uploads(workflow)})


def test_every_bundled_template_is_listed_without_error() -> None:
    infos = {i.name: i for i in list_templates()}
    assert set(BUNDLED) <= set(infos)
    assert all(infos[n].error == "" and infos[n].source == "bundled" for n in BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_template_passes_preflight_with_its_models(
    name: str, object_info: dict[str, Any], models: dict[str, list[str]], ref_image: str
) -> None:
    workflow = get_template(name).customize(**_defaults(name, ref_image))
    assert preflight(workflow, object_info, models) == []


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_template_reports_each_of_its_models_missing_on_an_empty_server(
    name: str, object_info: dict[str, Any], ref_image: str
) -> None:
    workflow = get_template(name).customize(**_defaults(name, ref_image))
    empty = {
        folder: []
        for folder in (
            "checkpoints",
            "diffusion_models",
            "text_encoders",
            "vae",
            "clip_vision",
            "upscale_models",
            "controlnet",
        )
    }
    problems = preflight(workflow, object_info, empty)
    assert problems and all(p.fix and p.fix["kind"] == "missing_model" for p in problems)


@pytest.mark.parametrize("version", ["0.3.64", "0.38"])
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_template_passes_the_servers_own_validation_with_its_models(
    name: str, version: str, models: dict[str, list[str]], ref_image: str
) -> None:
    workflow = _as_sent(name, ref_image)
    schemas = build_object_info(version, models)
    verdict = validate_prompt(workflow, schemas, None, v038=version == "0.38", file_exists=lambda n: n == "ref.png")
    assert (verdict.ok, verdict.node_errors) == (True, {})


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_template_is_rejected_like_a_server_without_its_models(name: str, ref_image: str) -> None:
    workflow = _as_sent(name, ref_image)
    verdict = validate_prompt(workflow, build_object_info("0.3.64", None), None, file_exists=lambda n: True)
    model_inputs = {name for pairs in MODEL_COMBOS.values() for _, name in pairs}
    errors = [e for entry in verdict.node_errors.values() for e in entry["errors"]]
    assert not verdict.ok and errors
    assert all(e["type"] == "value_not_in_list" and e["extra_info"]["input_name"] in model_inputs for e in errors)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_template_uses_only_core_node_classes(name: str, class_names: set[str]) -> None:
    classes = {node["class_type"] for node in get_template(name).workflow.values()}
    assert classes <= class_names


def test_default_image_template_is_sd15() -> None:
    workflow = resolve_workflow("image", None, {"prompt": "a fox", "seed": 3, "width": 640, "height": 384})
    assert workflow["1"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly-fp16.safetensors"
    assert (workflow["4"]["inputs"]["width"], workflow["4"]["inputs"]["height"]) == (640, 384)
    assert workflow["5"]["inputs"]["seed"] == 3


def test_video_task_switches_to_image_to_video_when_a_start_image_is_given(ref_image: str) -> None:
    t2v = resolve_workflow("final_video", None, {"prompt": "rain", "seed": 1, "frames": 49})
    i2v = resolve_workflow("video", None, {"prompt": "rain", "seed": 1, "images": [ref_image], "frames": 49})
    assert "WanImageToVideo" not in {n["class_type"] for n in t2v.values()}
    assert t2v["7"]["inputs"]["length"] == 49
    assert i2v["10"]["class_type"] == "WanImageToVideo" and i2v["10"]["inputs"]["length"] == 49


def test_job_keys_the_template_does_not_declare_are_ignored() -> None:
    workflow = resolve_workflow("upscale", None, {"image": __file__, "prompt": "x", "width": 9, "target": {}})
    assert workflow["1"]["inputs"]["image"] == "test_bundled.py"


def test_every_default_task_maps_to_a_bundled_template() -> None:
    assert set(DEFAULT_TEMPLATES.values()) <= set(BUNDLED)


def test_image_parameter_is_marked_for_upload_and_replaced_by_the_server_name(ref_image: str) -> None:
    tpl = get_template("sd15_img2img")
    workflow = tpl.customize(prompt="oil painting", image=ref_image)
    uploads = image_uploads(workflow)
    assert {k: (u.input, u.local_path) for k, u in uploads.items()} == {"4": ("image", ref_image)}
    assert tpl.image_bindings({"prompt": "x", "image": ref_image}) == {"4": ref_image}
    sent = apply_uploaded_names(workflow, {"4": "ref (1).png"})
    assert sent["4"]["inputs"]["image"] == "ref (1).png"
    assert ref_image not in json.dumps(sent)  # local paths never reach the server
    assert image_uploads(workflow)  # the original is untouched
