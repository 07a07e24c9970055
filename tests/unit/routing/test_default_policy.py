"""Table-driven checks of the default policy: which service gets each task, and why."""

from __future__ import annotations

import pytest
from genbridge.routing import Router
from genbridge.runtime.errors import ConfigError
from genbridge.runtime.jobs import Job

C0, W0, L0 = "http://127.0.0.1:8188", "http://127.0.0.1:7866/mcp", "http://127.0.0.1:4000"

# (task, inputs, ComfyUI free GB or None = not probed, expected first service, text in its reason)
CASES = [
    ("text", {}, None, "litellm", "text goes to LiteLLM"),
    ("shotlist", {}, 24.0, "litellm", "text goes to LiteLLM"),
    ("prompt", {}, 2.0, "litellm", "LiteLLM at l0"),
    ("quick_preview", {"width": 832, "height": 480, "frames": 81}, 24.0, "wan2gp", "quick previews go to WanGP"),
    ("quick_preview", {}, None, "wan2gp", "quick preview"),
    ("character_image", {"width": 1024, "height": 1024}, 24.0, "comfyui", "character consistency needs ComfyUI"),
    ("image", {}, 24.0, "comfyui", "24 GB free, needs"),
    ("keyframe", {"resolution": "1024x576"}, 12.0, "comfyui", "keyframe image"),
    ("upscale", {}, 24.0, "comfyui", "upscale"),
    ("final_video", {"width": 1280, "height": 720, "frames": 81}, 24.0, "comfyui", "enough VRAM for ComfyUI quality"),
    ("final_video", {"width": 1280, "height": 720, "frames": 81}, 6.0, "wan2gp", "under 8 GB free, WanGP is lighter"),
    ("video", {"width": 832, "height": 480, "frames": 49}, 7.9, "wan2gp", "WanGP is lighter"),
    ("video", {"width": 832, "height": 480, "frames": 49}, 16.0, "comfyui", "ComfyUI quality"),
    # 8 GB free is enough for the rule, but the 14B model does not fit: the lighter WanGP that fits goes first.
    ("video", {"width": 832, "height": 480, "frames": 49}, 8.0, "wan2gp", "needs"),
    ("final_video", {}, None, "comfyui", "VRAM not probed"),
]


@pytest.mark.parametrize(("task", "inputs", "comfy_free", "service", "reason"), CASES)
def test_default_policy_routes_each_task(task, inputs, comfy_free, service, reason, h):
    router = Router(h.make_settings())
    if comfy_free is not None:
        router.observe_probe(h.probe("comfyui", C0, free=comfy_free, total=24.0))
    plan = router.plan(Job(task=task, inputs=inputs))
    assert plan[0].service == service
    assert reason in plan[0].reason
    assert plan[0].label in plan[0].reason


def test_plan_lists_fallback_service_after_first_choice(h):
    router = Router(h.make_settings())
    router.observe_probe(h.probe("comfyui", C0, free=24.0))
    plan = router.plan(Job(task="quick_preview", inputs={}))
    assert [s.service for s in plan] == ["wan2gp", "comfyui"]
    assert plan[1].reason.startswith("fallback: ")


def test_reason_states_free_and_needed_vram(h):
    router = Router(h.make_settings(wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=10.2, total=24.0))
    step = router.plan(Job(task="quick_preview", inputs={"width": 832, "height": 480, "frames": 81}))[0]
    assert step.reason.startswith("ComfyUI at c0: quick preview")
    assert "10.2 GB free, needs 7.6" in step.reason


def test_requested_service_overrides_the_policy(h):
    router = Router(h.make_settings())
    plan = router.plan(Job(task="quick_preview", inputs={}, requested_service="comfyui"))
    assert [s.service for s in plan] == ["comfyui"]
    assert "you chose ComfyUI" in plan[0].reason


def test_auto_means_the_policy_decides(h):
    router = Router(h.make_settings())
    assert router.plan(Job(task="quick_preview", requested_service="Auto"))[0].service == "wan2gp"


def test_manual_vram_override_is_used_and_named(h):
    router = Router(h.make_settings(vram_override_gb=6.0))
    router.observe_probe(h.probe("comfyui", C0, free=24.0))
    step = router.plan(Job(task="final_video", inputs={}))[0]
    assert step.service == "wan2gp"
    assert "your setting" in step.reason


def test_wan2gp_vram_comes_from_its_memory_profile(h):
    router = Router(h.make_settings(comfyui=0, wan2gp_profile=5))
    step = router.plan(Job(task="quick_preview", inputs={}))[0]
    assert "profile 5 assumes" in step.reason and "10 GB free" in step.reason


def test_cpu_server_vram_is_called_ram(h):
    router = Router(h.make_settings(wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=20.0, device="cpu"))
    assert "CPU RAM" in router.plan(Job(task="image"))[0].reason


def test_unknown_task_is_a_config_error_naming_the_known_ones(h):
    with pytest.raises(ConfigError) as err:
        Router(h.make_settings()).plan(Job(task="sculpt"))
    assert "quick_preview" in err.value.hint


def test_no_endpoint_for_the_task_is_a_config_error(h):
    with pytest.raises(ConfigError, match="LiteLLM"):
        Router(h.make_settings(litellm=0)).plan(Job(task="text"))


def test_a_task_added_to_a_user_policy_file_is_routed(tmp_path, h):
    from genbridge.routing.policy import DEFAULT_POLICY_PATH

    policy = tmp_path / "policy.toml"
    policy.write_text(
        DEFAULT_POLICY_PATH.read_text()
        + """
[tasks.depth_map]
title = "depth map"
defaults = { width = 1024, height = 1024 }
[tasks.depth_map.services.comfyui]
vram = { base_gb = 2.0, per_megapixel_gb = 1.0 }
"""
    )
    router = Router(h.make_settings(policy_file=str(policy)))
    step = router.plan(Job(task="depth_map"))[0]
    assert step.service == "comfyui" and "depth map" in step.reason


def test_a_rule_added_to_a_user_policy_file_changes_the_order(tmp_path, h):
    from genbridge.routing.policy import DEFAULT_POLICY_PATH

    policy = tmp_path / "policy.toml"
    text = DEFAULT_POLICY_PATH.read_text().replace(
        "# Rules:", '[[rules]]\ntasks = ["quick_preview"]\nprefer = ["comfyui"]\nreason = "my GPU box"\n\n# Rules:', 1
    )
    policy.write_text(text)
    step = Router(h.make_settings(policy_file=str(policy))).plan(Job(task="quick_preview"))[0]
    assert step.service == "comfyui" and "my GPU box" in step.reason


def test_invalid_policy_file_names_the_field(tmp_path, h):
    policy = tmp_path / "bad.toml"
    policy.write_text('[tasks.x]\ntitle = "x"\n[tasks.x.services.midjourney]\n')
    with pytest.raises(ConfigError, match="midjourney"):
        Router(h.make_settings(policy_file=str(policy)))
