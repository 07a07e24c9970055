"""What plans cache between decisions (VRAM per instance, rule orders per task, mean speed) never goes stale."""

from __future__ import annotations

from genbridge.routing import Router
from genbridge.routing.load import LoadTracker
from genbridge.runtime.jobs import Job

C0, C1, C2 = "http://127.0.0.1:8188", "http://127.0.0.1:8189", "http://127.0.0.1:8190"
VIDEO = {"width": 1280, "height": 720, "frames": 81}


def test_a_new_probe_replaces_the_cached_vram_in_the_next_plan(h):
    router = Router(h.make_settings())
    router.observe_probe(h.probe("comfyui", C0, free=24.0))
    assert router.plan(Job(task="final_video", inputs=VIDEO))[0].service == "comfyui"
    router.observe_probe(h.probe("comfyui", C0, free=6.0))
    step = router.plan(Job(task="final_video", inputs=VIDEO))[0]
    assert step.service == "wan2gp"
    assert "under 8 GB free" in step.reason


def test_vram_override_edited_in_place_reaches_the_next_plan(h):
    settings = h.make_settings()
    router = Router(settings)
    router.observe_probe(h.probe("comfyui", C0, free=24.0))
    assert router.plan(Job(task="final_video", inputs=VIDEO))[0].service == "comfyui"
    settings.vram_override_gb = 6.0
    step = router.plan(Job(task="final_video", inputs=VIDEO))[0]
    assert step.service == "wan2gp"
    assert "your setting" in step.reason


def test_wan2gp_profile_edited_in_place_changes_its_assumed_vram(h):
    settings = h.make_settings(comfyui=0, wan2gp_profile=1)
    router = Router(settings)
    assert "24 GB free (profile 1 assumes)" in router.plan(Job(task="quick_preview"))[0].reason
    settings.wan2gp_profile = 5
    assert "10 GB free (profile 5 assumes)" in router.plan(Job(task="quick_preview"))[0].reason


def test_an_unreachable_probe_after_a_good_one_is_not_chosen_while_another_fits(h):
    router = Router(h.make_settings(comfyui=2, wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=24.0))
    router.observe_probe(h.probe("comfyui", C1, free=24.0, queue=3))
    assert router.plan(Job(task="image"))[0].instance == C0
    router.observe_probe(h.probe("comfyui", C0, reachable=False))
    assert router.plan(Job(task="image"))[0].instance == C1


def test_policy_file_change_replaces_the_cached_rule_orders(h, tmp_path):
    from genbridge.routing.policy import DEFAULT_POLICY_PATH

    custom = tmp_path / "policy.toml"
    custom.write_text(
        DEFAULT_POLICY_PATH.read_text().replace(
            'prefer = ["wan2gp", "comfyui"]\nreason = "quick previews go to WanGP"',
            'prefer = ["comfyui", "wan2gp"]\nreason = "previews on ComfyUI here"',
        )
    )
    settings = h.make_settings()
    router = Router(settings)
    router.observe_probe(h.probe("comfyui", C0, free=24.0))
    assert router.plan(Job(task="quick_preview"))[0].service == "wan2gp"
    router.update_settings(settings.model_copy(update={"policy_file": str(custom)}))
    step = router.plan(Job(task="quick_preview"))[0]
    assert step.service == "comfyui"
    assert "previews on ComfyUI here" in step.reason


def test_unobserved_instance_speed_follows_the_current_mean_of_observed_ones(clock):
    load = LoadTracker(clock)
    assert load.seconds_per_work(C2) == 1.0  # nothing observed anywhere yet
    for url, seconds in ((C0, 2.0), (C1, 4.0)):
        load.reserve(f"j-{url}", url, work=1.0)
        load.sent(f"j-{url}", url)
        clock.advance(seconds)
        load.finished(f"j-{url}", ok=True)
    assert load.seconds_per_work(C2) == (load.seconds_per_work(C0) + load.seconds_per_work(C1)) / 2
    before = load.seconds_per_work(C2)
    load.reserve("again", C0, work=1.0)
    load.sent("again", C0)
    clock.advance(10.0)
    load.finished("again", ok=True)  # C0 slowed down: the mean an unobserved instance gets moves with it
    assert load.seconds_per_work(C2) > before
    assert load.seconds_per_work(C2) == (load.seconds_per_work(C0) + load.seconds_per_work(C1)) / 2
