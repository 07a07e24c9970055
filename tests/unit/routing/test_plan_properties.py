"""Properties of plans over random pools: never an unhealthy or open-circuit first choice while a healthy one fits."""

from __future__ import annotations

from genbridge.routing import Router
from genbridge.routing.breaker import BreakerState
from genbridge.runtime.jobs import Job
from hypothesis import given, settings
from hypothesis import strategies as st

TASKS = ["image", "keyframe", "character_image", "quick_preview", "final_video", "video", "upscale"]

instance = st.fixed_dictionaries(
    {
        "state": st.sampled_from(["healthy", "unreachable", "open", "half-open", "unprobed"]),
        "free": st.one_of(st.none(), st.floats(0, 48)),
        "queue": st.integers(0, 5),
    }
)


class _Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _router(h, comfy, wan):
    from genbridge.runtime.errors import Unreachable

    clock = _Clock()
    router = Router(h.make_settings(comfyui=len(comfy), wan2gp=len(wan)), clock=clock)
    for service, specs in (("comfyui", comfy), ("wan2gp", wan)):
        for inst, spec in zip(router.resources.instances(service), specs, strict=True):
            if spec["state"] == "unprobed":
                continue
            if spec["state"] == "unreachable":
                router.observe_probe(h.probe(service, inst.url, reachable=False))
                continue
            router.observe_probe(h.probe(service, inst.url, free=spec["free"], queue=spec["queue"]))
            if spec["state"] in ("open", "half-open"):
                for _ in range(router.policy.breaker.failures_to_open):
                    router.record_failure(inst.url, Unreachable("down"))
    clock.now += router.policy.breaker.cooldown_s / 2
    return router, clock


def _healthy(inst) -> bool:
    return inst.health() is BreakerState.CLOSED


@settings(max_examples=150, deadline=None)
@given(
    task=st.sampled_from(TASKS),
    comfy=st.lists(instance, min_size=1, max_size=3),
    wan=st.lists(instance, min_size=0, max_size=3),
    width=st.sampled_from([512, 832, 1280, 1920]),
    frames=st.sampled_from([1, 33, 81, 121]),
)
def test_first_choice_is_never_unhealthy_while_a_healthy_instance_fits(h, task, comfy, wan, width, frames):
    router, _ = _router(h, comfy, wan)
    job = Job(task=task, inputs={"width": width, "height": width * 9 // 16, "frames": frames})
    plan = router.plan(job)
    first = router.resources.get(plan[0].instance)
    task_services = router.policy.task(task).services
    healthy_fitting = []
    for service, option in task_services.items():
        for inst in router.resources.instances(service):
            vram = router.resources.vram(inst)
            need = option.vram.need_gb(router.policy.complexity(task, job.inputs)) * router.resources.need_factor(inst)
            if _healthy(inst) and (vram.free_gb is None or need <= vram.free_gb):
                healthy_fitting.append(inst)
    if healthy_fitting:
        assert first in healthy_fitting, plan[0].reason
        assert not plan[0].changes
    # Open breakers and unreachable instances only appear when nothing usable exists at all.
    usable = [
        i
        for s in task_services
        for i in router.resources.instances(s)
        if i.health() in (BreakerState.CLOSED, BreakerState.HALF_OPEN)
    ]
    if usable:
        assert all(router.resources.get(s.instance) in usable for s in plan)


@settings(max_examples=100, deadline=None)
@given(
    task=st.sampled_from(TASKS),
    comfy=st.lists(instance, min_size=1, max_size=3),
    wan=st.lists(instance, min_size=0, max_size=2),
)
def test_every_plan_step_says_why(h, task, comfy, wan):
    router, _ = _router(h, comfy, wan)
    plan = router.plan(Job(task=task, inputs={}))
    assert plan
    for step in plan:
        assert step.reason.startswith(("fallback: " if step is not plan[0] else "") + step.label)
        for change in step.changes:
            assert change in step.reason
