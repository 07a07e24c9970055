"""customize(): a new workflow every time, typed parameters, all problems in one error; property-tested."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from genbridge.workflows import TemplateParamError, check_api_format, get_template, structural_problems
from genbridge.workflows.template import SEED_MAX, ParamSpec, template_from_workflow
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TEXT_TEMPLATES = ["sd15_txt2img", "sdxl_txt2img", "flux_txt2img", "wan21_t2v"]


def value_for(spec: ParamSpec) -> st.SearchStrategy[Any]:
    """Valid values for one parameter."""
    if spec.choices is not None:
        return st.sampled_from(spec.choices)
    if spec.type == "int":
        return st.integers(int(spec.min if spec.min is not None else -(2**31)), int(spec.max or 2**31))
    if spec.type == "float":
        return st.floats(spec.min or 0.0, spec.max or 1e6, allow_nan=False)
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "model":
        return st.text(min_size=1, max_size=20).filter(str.strip)
    return st.text(max_size=40)


@st.composite
def valid_call(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(TEXT_TEMPLATES))
    tpl = get_template(name)
    chosen = draw(st.lists(st.sampled_from(sorted(tpl.params)), unique=True))
    params = {p: draw(value_for(tpl.params[p])) for p in chosen}
    for p, spec in tpl.params.items():
        if spec.required and p not in params:
            params[p] = draw(value_for(spec))
    return name, params


def invalid_value(spec: ParamSpec) -> st.SearchStrategy[Any]:
    """Values that must be refused for one parameter."""
    wrong_type = st.sampled_from([[1], {"a": 1}, None if spec.required else [None]])
    if spec.type in ("int", "float"):
        options = [wrong_type, st.just("not a number")]
        if spec.min is not None:
            options.append(st.integers(-(2**40), int(spec.min) - 1).filter(lambda v: not (spec.random and v == -1)))
        if spec.max is not None:
            options.append(st.integers(int(spec.max) + 1, 2**70))
        return st.one_of(*options)
    if spec.choices is not None:
        return st.one_of(wrong_type, st.text(max_size=10).filter(lambda v: v not in spec.choices))
    return st.one_of(wrong_type, st.integers())


@st.composite
def invalid_call(draw: st.DrawFn) -> tuple[str, dict[str, Any], set[str]]:
    name = draw(st.sampled_from(TEXT_TEMPLATES))
    tpl = get_template(name)
    params: dict[str, Any] = {p: "ok" for p, s in tpl.params.items() if s.required}
    bad_names = set(draw(st.lists(st.sampled_from(sorted(tpl.params)), min_size=1, max_size=3, unique=True)))
    for p in bad_names:
        params[p] = draw(invalid_value(tpl.params[p]))
    if draw(st.booleans()):
        unknown = draw(st.text(alphabet="abcxyz_", min_size=3, max_size=8).filter(lambda s: s not in tpl.params))
        params[unknown] = 1
        bad_names.add(unknown)
    return name, params, bad_names


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_call())
def test_customize_with_valid_params_never_mutates_the_template_and_gives_api_json(
    call: tuple[str, dict[str, Any]],
) -> None:
    name, params = call
    tpl = get_template(name)
    before = copy.deepcopy(tpl.workflow_data)
    workflow = tpl.customize(**params)
    assert tpl.workflow_data == before
    reparsed = json.loads(json.dumps(workflow))
    assert check_api_format(reparsed) == reparsed
    assert structural_problems(reparsed) == []
    for p, value in params.items():
        binding = tpl.params[p].bindings[0]
        assert reparsed[binding.node_id]["inputs"][binding.input] == value


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_call())
def test_customize_with_invalid_params_names_every_bad_parameter(call: tuple[str, dict[str, Any], set[str]]) -> None:
    name, params, bad = call
    tpl = get_template(name)
    before = copy.deepcopy(tpl.workflow_data)
    with pytest.raises(TemplateParamError) as info:
        tpl.customize(**params)
    assert {p.field for p in info.value.problems} == bad
    for p in bad:
        assert f"{p}: " in info.value.message
    assert tpl.workflow_data == before


def test_all_problems_are_reported_together_with_readable_reasons() -> None:
    tpl = get_template("sd15_txt2img")
    with pytest.raises(TemplateParamError) as info:
        tpl.customize(steps=0, cfg="lots", sampler="magic", colour="red")
    assert info.value.message == (
        'Template "sd15_txt2img" cannot use these parameters: colour: unknown parameter (known: cfg, checkpoint, '
        "height, negative_prompt, prompt, sampler, scheduler, seed, steps, width); prompt: required parameter is "
        "missing; steps: 0 is below the minimum 1; cfg: expected a number, got 'lots'; sampler: 'magic' is not one "
        "of 'euler', 'euler_ancestral', 'heun', 'dpm_2', 'dpm_2_ancestral', 'lms', 'dpmpp_2s_ancestral', "
        "'dpmpp_sde', 'dpmpp_2m', 'dpmpp_2m_sde', 'dpmpp_3m_sde', 'ddpm', 'lcm', 'ddim', 'uni_pc', 'uni_pc_bh2'."
    )


def test_seed_accepts_the_full_unsigned_63_bit_range_and_minus_one_means_random() -> None:
    tpl = get_template("sd15_txt2img")
    assert tpl.customize(prompt="x", seed=SEED_MAX)["5"]["inputs"]["seed"] == SEED_MAX
    assert 0 <= tpl.customize(prompt="x", seed=-1)["5"]["inputs"]["seed"] <= SEED_MAX


def test_strings_from_the_command_line_are_parsed_to_the_parameter_type() -> None:
    workflow = get_template("sd15_txt2img").customize(prompt="x", steps="12", cfg="4.5", seed="99")
    assert (workflow["5"]["inputs"]["steps"], workflow["5"]["inputs"]["cfg"], workflow["5"]["inputs"]["seed"]) == (
        12,
        4.5,
        99,
    )


def test_missing_image_file_is_named() -> None:
    with pytest.raises(TemplateParamError) as info:
        get_template("upscale_model").customize(image="/nowhere/at/all.png")
    assert info.value.message.startswith(
        'Template "upscale_model" cannot use these parameters: '
        "image: the image file /nowhere/at/all.png does not exist."
    )


def test_plain_workflow_without_sidecar_exposes_inputs_by_node_id_and_unique_title() -> None:
    workflow = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
            "_meta": {"title": "Canvas"},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    tpl = template_from_workflow(workflow, name="plain")
    assert sorted(tpl.params) == ["1.batch_size", "1.color", "1.height", "1.width", "2.filename_prefix"]
    out = tpl.customize(**{"Canvas.width": "128", "1.height": 32})
    assert (out["1"]["inputs"]["width"], out["1"]["inputs"]["height"]) == (128, 32)
    assert workflow["1"]["inputs"]["width"] == 64
