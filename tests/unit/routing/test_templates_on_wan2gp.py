"""A template job may go to WanGP only when WanGP has a preset for the template (it would refuse any other)."""

from __future__ import annotations

import pytest
from genbridge.routing import Router
from genbridge.runtime.errors import ConfigError
from genbridge.runtime.jobs import Job

from .conftest import make_settings, probe

W0 = "http://127.0.0.1:7866/mcp"


def job(template: str, **inputs) -> Job:
    return Job(task="quick_preview", template=template, inputs={"prompt": "p", **inputs})


@pytest.mark.parametrize("template", ["wan21_flf2v", "wan22_ti2v_i2v", "wan21_i2v", "wan21_t2v"])
def test_a_template_with_a_wangp_preset_may_go_to_wangp_first(template):
    router = Router(make_settings())
    router.observe_probe(probe("wan2gp", W0))
    steps = router.plan(job(template, model="some_comfyui_file.safetensors"))
    assert steps[0].service == "wan2gp"  # quick previews prefer WanGP (default policy)
    assert "WanGP left out" not in steps[0].reason


def test_a_template_without_a_preset_leaves_wangp_out_and_says_so():
    router = Router(make_settings())
    router.observe_probe(probe("wan2gp", W0))
    steps = router.plan(job("my_own_video", model="my_model.safetensors"))
    assert {s.service for s in steps} == {"comfyui"}
    assert 'WanGP left out: the template "my_own_video" has no WanGP preset' in steps[0].reason


def test_a_user_template_naming_a_wangp_model_type_may_go_to_wangp():
    router = Router(make_settings())
    steps = router.plan(job("my_own_video", model="t2v_1.3B"))
    assert steps[0].service == "wan2gp"


def test_with_only_wangp_configured_the_error_names_the_template():
    router = Router(make_settings(comfyui=0))
    with pytest.raises(ConfigError) as err:
        router.plan(job("my_own_video"))
    assert 'the template "my_own_video" has no WanGP preset' in err.value.message


def test_asking_for_wangp_explicitly_is_left_to_its_pre_flight():
    router = Router(make_settings())
    explicit = job("my_own_video")
    explicit.requested_service = "wan2gp"
    assert router.plan(explicit)[0].service == "wan2gp"
