"""Degradation, freeing VRAM first, least-loaded selection with learned speeds, and late binding in pools."""

from __future__ import annotations

import argparse
import asyncio

from genbridge.routing import Router
from genbridge.routing.load import LoadTracker
from genbridge.runtime.jobs import Job

C0, C1, C2 = "http://127.0.0.1:8188", "http://127.0.0.1:8189", "http://127.0.0.1:8190"


def test_when_nothing_fits_the_job_is_made_lighter_and_the_changes_are_listed(h):
    router = Router(h.make_settings(wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=6.0, total=6.5))
    step = router.plan(Job(task="image", inputs={"width": 1024, "height": 1024, "steps": 25}))[0]
    assert step.changes == ("resolution 1024x1024 -> 768x768",)
    assert step.inputs_override == {"width": 768, "height": 768}
    assert "made lighter: resolution 1024x1024 -> 768x768" in step.reason


def test_degradation_keeps_the_input_keys_the_job_used(h):
    router = Router(h.make_settings(wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=6.0, total=6.5))
    step = router.plan(Job(task="image", inputs={"resolution": "1024x1024"}))[0]
    assert step.inputs_override == {"resolution": "768x768"}


def test_idle_comfyui_is_asked_to_free_vram_before_a_heavy_job(h):
    router = Router(h.make_settings(wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=4.0, total=24.0))
    step = router.plan(Job(task="character_image", inputs={"width": 1024, "height": 1024}))[0]
    assert step.free_vram_first and not step.changes
    assert "free its cached models" in step.reason


def test_busy_comfyui_is_not_asked_to_free_vram(h):
    router = Router(h.make_settings(wan2gp=0))
    router.observe_probe(h.probe("comfyui", C0, free=8.0, total=24.0, queue=1))
    step = router.plan(Job(task="character_image", inputs={"width": 1024, "height": 1024}))[0]
    assert not step.free_vram_first and step.changes


def test_least_loaded_counts_queue_depth_and_running_work(h):
    router = Router(h.make_settings(comfyui=3, wan2gp=0))
    for url, queue in ((C0, 4), (C1, 0), (C2, 0)):
        router.observe_probe(h.probe("comfyui", url, free=24, queue=queue))
    assert router.plan(Job(task="image"))[0].instance == C1
    # C1 now holds our job; the next goes to idle C2, never to C0 with four jobs queued.
    assert router.plan(Job(task="image"))[0].instance == C2


def test_learned_speed_sends_work_to_the_faster_instance(clock):
    load = LoadTracker(clock)
    for url, seconds in ((C0, 4.0), (C1, 1.0)):
        load.reserve(f"j-{url}", url, work=1.0)
        load.sent(f"j-{url}", url)
        clock.advance(seconds)
        load.finished(f"j-{url}", ok=True)
    assert load.seconds_per_work(C0) > 3 * load.seconds_per_work(C1)
    load.reserve("a", C1, 1.0)
    load.sent("a", C1)
    # C1 with one job ahead still finishes a new job sooner than idle C0.
    assert load.expected_finish_s(C1, 1.0) < load.expected_finish_s(C0, 1.0)


async def test_pool_holds_a_job_until_its_best_instance_has_room(h):
    router = Router(h.make_settings(comfyui=2, wan2gp=0))
    cap = router.policy.pool.max_queued_per_instance
    jobs = [Job(task="image") for _ in range(2 * cap)]
    for job in jobs:
        await asyncio.wait_for(router.plan_when_ready(job), 1)
    waiting = asyncio.ensure_future(router.plan_when_ready(Job(task="image")))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    router.job_finished(jobs[0].id, ok=True)
    plan = await asyncio.wait_for(waiting, 1)
    assert plan[0].instance == router.plan(Job(task="image"))[0].instance or plan


def test_route_command_prints_the_plan_with_reasons(h, capsys, monkeypatch, tmp_path):
    from genbridge.cli import route

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENBRIDGE_CONFIG", raising=False)
    args = argparse.Namespace(
        config=None,
        task="quick_preview",
        width=832,
        height=480,
        resolution=None,
        frames=81,
        steps=None,
        service=None,
        vram=None,
        probe=False,
        json=False,
    )
    assert route.run(args) == 0
    out = capsys.readouterr().out
    assert "not probed" in out
    assert "1. WanGP at 127.0.0.1:7866: quick preview" in out
    assert "2. fallback: ComfyUI" in out


def test_workflow_job_size_comes_from_its_graph(h):
    from genbridge.routing.policy import load_policy

    graph = {
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"steps": 40, "latent_image": ["4", 0], "seed": 3}},
    }
    policy = load_policy()
    c = policy.complexity("image", {"workflow": graph})
    assert (c.width, c.height, c.steps) == (768, 512, 40)
    # Explicit inputs still win over the graph.
    assert policy.complexity("image", {"workflow": graph, "steps": 8}).steps == 8
