"""Health and breakers in plans: down instances are skipped, recovering ones get a trial, probes feed breakers."""

from __future__ import annotations

import asyncio
import random

from genbridge.routing import Router
from genbridge.routing.health import HealthMonitor
from genbridge.runtime.errors import OutOfMemory, RejectedInput, Unreachable
from genbridge.runtime.jobs import Job

C0, C1 = "http://127.0.0.1:8188", "http://127.0.0.1:8189"


def test_unreachable_probe_moves_the_instance_behind_a_healthy_one(h):
    router = Router(h.make_settings(comfyui=2))
    router.observe_probe(h.probe("comfyui", C0, reachable=False))
    router.observe_probe(h.probe("comfyui", C1, free=24))
    plan = router.plan(Job(task="image"))
    assert [s.instance for s in plan] == [C1]


def test_request_failures_open_the_breaker_and_the_instance_is_skipped(h, clock):
    router = Router(h.make_settings(comfyui=2), clock=clock)
    for _ in range(2):
        router.record_failure(C0, Unreachable("down"))
    assert [s.instance for s in router.plan(Job(task="image"))] == [C1]


def test_only_down_instances_still_give_a_last_resort_plan(h, clock):
    router = Router(h.make_settings(comfyui=1), clock=clock)
    router.record_failure(C0, Unreachable("down"))
    router.record_failure(C0, Unreachable("down"))
    step = router.plan(Job(task="image"))[0]
    assert step.instance == C0 and "last resort" in step.reason


def test_after_cooldown_the_instance_gets_one_trial(h, clock):
    router = Router(h.make_settings(comfyui=1), clock=clock)
    router.record_failure(C0, Unreachable("down"))
    router.record_failure(C0, Unreachable("down"))
    clock.advance(router.policy.breaker.cooldown_s)
    step = router.plan(Job(task="image"))[0]
    assert "recovering" in step.reason


def test_input_errors_do_not_count_against_an_instance(h, clock):
    router = Router(h.make_settings(comfyui=2), clock=clock)
    for _ in range(5):
        router.record_failure(C0, RejectedInput("bad prompt"))
    assert router.plan(Job(task="image"))[0].reason.startswith("ComfyUI at c0")


def test_out_of_memory_caps_what_the_instance_is_believed_to_hold(h, clock):
    router = Router(h.make_settings(comfyui=2, wan2gp=0), clock=clock)
    router.observe_probe(h.probe("comfyui", C0, free=24))
    router.observe_probe(h.probe("comfyui", C1, free=12, queue=3))
    job = Job(task="image", inputs={"width": 1024, "height": 1024})
    assert router.plan(job)[0].instance == C0
    router.record_failure(C0, OutOfMemory("oom"))
    router.job_finished(job.id, ok=False)
    step = router.plan(Job(task="image", inputs={"width": 1024, "height": 1024}))[0]
    assert step.instance == C1


async def test_health_monitor_feeds_probes_to_the_router_and_survives_errors(h):
    router = Router(h.make_settings(comfyui=1, wan2gp=0, litellm=0))
    calls = 0

    async def probe_all():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("probe crashed")
        return [h.probe("comfyui", C0, reachable=False)]

    router.start_health_monitor(probe_all, interval_s=0.01, jitter=0.5)
    for _ in range(200):
        if router.monitor.rounds >= 2:
            break
        await asyncio.sleep(0.01)
    await router.stop_health_monitor()
    assert router.monitor.rounds >= 2
    assert router.resources.get(C0).reachable is False


def test_health_monitor_delay_stays_within_its_jitter():
    monitor = HealthMonitor(lambda: None, lambda r: None, interval_s=10, jitter=0.2, rng=random.Random(1))
    delays = [monitor.next_delay() for _ in range(200)]
    assert all(8 <= d <= 12 for d in delays) and len(set(delays)) > 100
