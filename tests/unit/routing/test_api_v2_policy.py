"""`api_v2_use`: a Comfy API v2 endpoint (remote, maybe paid) is used never, only while local ComfyUI is busy, or
always; the plan says which rule applied."""

from __future__ import annotations

import pytest
from genbridge.routing.policy import DEFAULT_POLICY_PATH
from genbridge.routing.router import Router
from genbridge.runtime.backend import ProbeResult
from genbridge.runtime.errors import ConfigError
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Settings

LOCAL = "http://127.0.0.1:8188"
V2 = "http://127.0.0.1:8189"


def probe(url: str, *, free: float | None = None, total: float | None = None, queue: int = 0) -> ProbeResult:
    return ProbeResult(
        service="comfyui", url=url, reachable=True, vram_free_gb=free, vram_total_gb=total, queue_depth=queue
    )


def router(tmp_path, use: str | None, *, local: bool = True) -> Router:
    data: dict = {"comfyui": ([{"url": LOCAL, "label": "gpu-box"}] if local else [])}
    data["comfyui"].append({"url": V2, "label": "cloud", "kind": "api_v2", "key": "v2-key-1234"})
    if use is not None:
        policy = tmp_path / "policy.toml"
        text = DEFAULT_POLICY_PATH.read_text().replace('api_v2_use = "when_local_busy"', f'api_v2_use = "{use}"')
        policy.write_text(text)
        data["policy_file"] = str(policy)
    return Router(Settings.from_mapping(data))


def test_the_default_keeps_v2_back_while_the_local_comfyui_is_free(tmp_path):
    steps = router(tmp_path, None).plan(Job(task="keyframe"))
    assert [s.instance for s in steps] == [LOCAL, V2]
    assert 'Comfy API v2 kept back: ComfyUI at gpu-box is free (api_v2_use = "when_local_busy")' in steps[0].reason


def test_when_local_is_busy_the_next_keyframe_goes_to_v2_and_the_plan_says_why(tmp_path):
    r = router(tmp_path, "when_local_busy")
    first = r.plan(Job(task="keyframe"))
    second = r.plan(Job(task="keyframe"))
    assert first[0].instance == LOCAL and second[0].instance == V2
    assert "Comfy API v2 at cloud" in second[0].reason
    assert 'Comfy API v2 allowed: every local ComfyUI is busy (api_v2_use = "when_local_busy")' in second[0].reason


def test_never_leaves_v2_out_of_every_plan(tmp_path):
    r = router(tmp_path, "never")
    plans = [r.plan(Job(task="keyframe")) for _ in range(4)]
    assert all([s.instance for s in p] == [LOCAL] for p in plans)
    assert 'Comfy API v2 not used: api_v2_use = "never"' in plans[0][0].reason


def test_never_with_only_v2_endpoints_is_a_config_error_that_says_how_to_fix_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        router(tmp_path, "never", local=False).plan(Job(task="keyframe"))
    assert 'api_v2_use = "never"' in info.value.message and "when_local_busy" in info.value.hint


def test_always_puts_v2_on_an_equal_footing_with_local(tmp_path):
    r = router(tmp_path, "always")
    r.observe_probe(probe(LOCAL, queue=1))  # someone else's job on the local server: v2 finishes sooner
    steps = r.plan(Job(task="keyframe"))
    assert [s.instance for s in steps] == [V2, LOCAL]
    assert 'Comfy API v2 allowed like any server: api_v2_use = "always"' in steps[0].reason


def test_when_local_is_too_small_v2_goes_first_and_the_plan_says_so(tmp_path):
    r = router(tmp_path, "when_local_busy")
    r.observe_probe(probe(LOCAL, free=2.0, total=4.0))  # a keyframe needs about 6 GB
    steps = r.plan(Job(task="keyframe"))
    assert steps[0].instance == V2
    assert 'Comfy API v2 allowed: no local ComfyUI can take it now (api_v2_use = "when_local_busy")' in steps[0].reason


def test_plans_without_v2_endpoints_are_unchanged(tmp_path):
    steps = Router(Settings.from_mapping({"comfyui": [{"url": LOCAL}]})).plan(Job(task="keyframe"))
    assert "Comfy API v2" not in steps[0].reason


def test_an_unknown_policy_value_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        router(tmp_path, "sometimes")


def test_kind_api_v2_is_only_for_comfyui():
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"wan2gp": [{"url": "http://127.0.0.1:7866/mcp", "kind": "api_v2"}]})
    assert "only for ComfyUI endpoints" in info.value.message
