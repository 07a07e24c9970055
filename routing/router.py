"""The router: picks service and endpoint for every job from task, complexity, live VRAM, health and load.

`plan(job)` only reads cached state (probes arrive through `observe_probe`, from the health monitor), so a
decision costs microseconds. The plan is ordered: first choice, then fallbacks, each with a reason a user
understands. Candidates are ranked in tiers: fits on a healthy endpoint; fits on an endpoint in its trial
(half-open) period; fits once an idle ComfyUI frees its cache; fits after degradation. Within a tier the
policy's service order (its rules) comes first, then the endpoint expected to finish the job soonest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..runtime.backend import ProbeResult
from ..runtime.errors import ConfigError, GenBridgeError, IncompatibleServer, OutOfMemory, RejectedInput
from ..runtime.jobs import Job, PlanStep
from ..runtime.settings import SERVICE_TITLES, SERVICES, Settings
from .breaker import USABLE_STATES, BreakerState
from .degrade import STEP_KEYS, degrade_to_fit
from .health import HealthMonitor, ProbeAll
from .load import LoadTracker
from .policy import Complexity, Policy, TaskPolicy, VramEstimate, load_policy
from .pool import WaitingRoom
from .resources import Instance, Resources, Vram

MAX_STEPS = 6
ADMISSION_RECHECK_S = 1.0  # a waiting job re-plans at least this often (breakers change state with time)

# Tiers, best first. DOWN and TOO_BIG only appear when nothing better exists.
FITS, TRIAL, FREE_FIRST, DEGRADED, TOO_BIG, DOWN = range(6)


_V2_SHIFT = 1e9  # seconds added to a Comfy API v2 candidate's expected finish to order it after local ComfyUI


@dataclass(slots=True)
class _Candidate:
    inst: Instance
    rank: int  # position of its service in the policy's order
    tier: int
    order: float  # within a tier and service: expected finish (least-loaded) or turn (round-robin)
    vram: Vram
    need: float | None
    ahead: int  # jobs queued or running on it (ours and the server's others)
    changes: tuple[str, ...] = ()
    overrides: dict[str, Any] | None = None
    kept: tuple[str, ...] = ()  # inputs the user chose that a lighter variant would have changed


def _wan2gp_can_run(job: Job) -> bool:
    """False for a template job WanGP has no preset for (it would refuse it): the router leaves WanGP out."""
    if not job.template:
        return True
    from ..workflows.wan2gp_templates import wan2gp_inputs

    return wan2gp_inputs(job.template, job.inputs)[2] is None


def _sort_key(c: _Candidate) -> tuple[int, int, float]:
    return (c.tier, c.rank, c.order)


@lru_cache(maxsize=256)  # plans quote the same few VRAM figures over and over
def _gb(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


class Router:
    """Plans jobs over the configured endpoints; learns from probes, failures and finished jobs."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.settings = settings
        self.policy: Policy = load_policy(settings.policy_file or None)
        self.resources = Resources(settings, self.policy, clock)
        self.load = LoadTracker(clock)
        self._rr: dict[str, int] = {}
        self._task_of: dict[str, str] = {}  # job id -> task, for jobs counted against an endpoint
        self._changed: asyncio.Event | None = None
        self.waiting = WaitingRoom(self.load, self.resources)  # jobs held by plan_when_ready, in arrival order
        self.monitor: HealthMonitor | None = None

    # -- inputs ---------------------------------------------------------------------------------------------------
    def update_settings(self, settings: Settings) -> None:
        """New endpoints or policy file; what was learned about unchanged endpoints is kept."""
        policy = self.policy
        if settings.policy_file != self.settings.policy_file:
            policy = load_policy(settings.policy_file or None)
        self.settings, self.policy = settings, policy
        self.resources.update_settings(settings, policy)
        self._notify()

    def observe_probe(self, result: ProbeResult) -> None:
        self.resources.observe_probe(result)
        self._notify()

    def record_success(self, url: str) -> None:
        inst = self.resources.get(url)
        if inst is not None:
            inst.breaker.record_success()

    def record_failure(self, url: str, exc: BaseException) -> None:
        """Feed the endpoint's breaker; out-of-memory and incompatibility are remembered instead (not ill health)."""
        inst = self.resources.get(url)
        if inst is None or isinstance(exc, RejectedInput) or not isinstance(exc, GenBridgeError):
            return
        if isinstance(exc, OutOfMemory):
            needs = self.load.needs_on(url)
            self.resources.record_oom(url, min(needs) if needs else None)
        elif isinstance(exc, IncompatibleServer):
            tasks = {t for t in getattr(exc, "tasks", ())}
            inst.incompatible_tasks.update(tasks or self._tasks_on(url))
        elif exc.fallback_ok:
            inst.breaker.record_failure()

    def _tasks_on(self, url: str) -> set[str]:
        return {task for job_id, task in self._task_of.items() if (self.load.job(job_id) or ("",))[0] == url}

    def job_sent(self, job_id: str, url: str) -> None:
        """The job service sent `job_id` to `url` (load accounting)."""
        self.load.sent(job_id, url)

    def job_started(self, job_id: str) -> None:
        """The server began running `job_id`: it can no longer be moved."""
        self.load.started(job_id)

    def job_finished(self, job_id: str, ok: bool) -> None:
        """The job ended (any way); its endpoint's load drops, and a success teaches its speed."""
        self.load.finished(job_id, ok)
        self._task_of.pop(job_id, None)
        self._notify()

    # -- health monitor -------------------------------------------------------------------------------------------
    def start_health_monitor(self, probe_all: ProbeAll, interval_s: float = 15.0, jitter: float = 0.2) -> None:
        """Probe every endpoint in the background (loop thread) so plans always use fresh, cached health."""
        if self.monitor is None:
            self.monitor = HealthMonitor(probe_all, self.observe_probe, interval_s=interval_s, jitter=jitter)
        self.monitor.start()

    async def stop_health_monitor(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()

    # -- decisions ------------------------------------------------------------------------------------------------
    def plan(self, job: Job) -> list[PlanStep]:
        """The ordered plan for `job`, counted against its first choice's load."""
        steps, work, need = self._plan(job)
        self._reserve(job, steps[0], work, need)
        return steps

    async def plan_when_ready(self, job: Job) -> list[PlanStep]:
        """Like `plan`, but for a pool of endpoints hold the job until its best endpoint has room.

        Binding late is what lets faster endpoints take more of the work: a job goes to whichever endpoint is
        expected to finish it first at the moment it can start, not when it was queued.
        """
        cap = self.policy.pool.max_queued_per_instance
        waiting_for: str | None = None
        try:
            while True:
                changed = self._event()
                steps, work, need = self._plan(job, self.waiting.ahead_of(job.id))
                first = steps[0]
                if (
                    self.policy.pool.selection == "round_robin"
                    or self.load.outstanding(first.instance) < cap
                    or len(self.resources.instances(first.service)) < 2
                ):
                    self._reserve(job, first, work, need)
                    return steps
                if waiting_for is None:
                    waiting_for = first.service
                    self.waiting.enter(waiting_for, job.id, work)
                try:
                    await asyncio.wait_for(changed.wait(), ADMISSION_RECHECK_S)
                except TimeoutError:
                    pass
        finally:
            if waiting_for is not None:
                self.waiting.leave(waiting_for, job.id)

    def rebalance(self, freed_url: str) -> tuple[str, str] | None:
        """(job id, target URL) of a job queued on one server that should move to another (see `WaitingRoom`)."""
        return self.waiting.move_for(freed_url, self.policy)

    def plan_move(self, job: Job, to_url: str) -> list[PlanStep]:
        """The plan of a job taken back from its server: `to_url` first, then the usual fallbacks."""
        steps, work, need = self._plan(job)
        moved = [s for s in steps if s.instance == to_url]
        steps = moved[:1] + [s for s in steps if s.instance != to_url] if moved else steps
        if moved:
            reason = steps[0].reason
            steps[0] = steps[0].model_copy(update={"reason": f"moved here, it finishes sooner: {reason}"})
        self._reserve(job, steps[0], work, need)
        return steps

    def _reserve(self, job: Job, first: PlanStep, work: float, need: float | None) -> None:
        self.load.reserve(job.id, first.instance, work, need)
        self._task_of[job.id] = job.task
        if self.policy.pool.selection == "round_robin":
            self._rr[first.service] = self._rr.get(first.service, 0) + 1

    def _plan(self, job: Job, ahead: dict[str, float] | None = None) -> tuple[list[PlanStep], float, float | None]:
        policy, resources = self.policy, self.resources
        task = policy.task(job.task)
        complexity = policy.complexity(job.task, job.inputs)
        requested = _requested(job.requested_service)

        # Health and VRAM once per endpoint (candidates and reasons read them again), and the most free VRAM we
        # actually know of, for the policy's VRAM rules.
        best_free: float | None = None
        looks: dict[str, tuple[BreakerState | None, Vram]] = {}
        for service in (requested,) if requested else task.services:
            for inst in resources.instances(service):
                health, vram = looks[inst.url] = inst.health(), resources.vram(inst)
                if (
                    health in USABLE_STATES
                    and vram.free_gb is not None
                    and not vram.source.startswith("profile")
                    and (best_free is None or vram.free_gb > best_free)
                ):
                    best_free = vram.free_gb
        if requested:
            order, why = [requested], f"you chose {SERVICE_TITLES[requested]}"
        else:
            order, why = policy.service_order(job.task, best_free)

        work = complexity.work
        round_robin = policy.pool.selection == "round_robin"
        load = self.load
        candidates: list[_Candidate] = []
        left_out = ""
        for rank, service in enumerate(order):
            if service == "wan2gp" and not requested and not _wan2gp_can_run(job):
                left_out = f'WanGP left out: the template "{job.template}" has no WanGP preset'
                continue
            option = task.services.get(service)
            estimate = option.vram if option else None
            base_need = estimate.need_gb(complexity) if estimate is not None else None
            pool = resources.instances(service)
            turn = self._rr.get(service, 0)
            for index, inst in enumerate(pool):
                health, vram = looks[inst.url]
                factor = (option.vram_factor if option else 1.0) * resources.need_factor(inst)
                need = base_need * factor if base_need is not None else None
                ours = load.outstanding(inst.url)
                foreign = max(0, inst.queue_depth - ours)
                if round_robin:
                    rank_in_tier = float((index - turn) % len(pool))
                else:
                    rank_in_tier = load.expected_finish_s(inst.url, work, foreign)
                    if ahead:
                        rank_in_tier += ahead.get(inst.url, 0.0)
                cand = _Candidate(inst, rank, FITS, rank_in_tier, vram, need, ours + foreign)
                if health not in USABLE_STATES or job.task in inst.incompatible_tasks:
                    cand.tier = DOWN
                elif need is None or vram.free_gb is None or need <= vram.free_gb:
                    cand.tier = FITS if health is BreakerState.CLOSED else TRIAL
                elif self._can_free(inst, vram, need, ours):
                    cand.tier = FREE_FIRST
                else:
                    assert estimate is not None
                    self._degrade(cand, job, task, complexity, estimate, factor)
                candidates.append(cand)
        if not candidates:
            names = " or ".join(SERVICE_TITLES[s] for s in order) or "matching"
            # Rows left out for a problem (a URL with a password, a too-short key): say why, not just "none".
            unusable = [p for p in self.settings.endpoint_problems if p["service"] in order]
            if unusable:
                raise ConfigError(
                    f"No usable {names} endpoint for {task.title or job.task}: {unusable[0]['message']}",
                    unusable[0]["hint"],
                )
            raise ConfigError(
                f"No enabled {names} endpoint for {task.title or job.task}" + (f" ({left_out})." if left_out else "."),
                "Add one in GenBridge preferences (or genbridge.toml).",
            )
        if left_out:
            why = f"{why}; {left_out}" if why else left_out
        note = self._api_v2_rule(candidates, task.title or job.task)
        if note:
            why = f"{why}; {note}" if why else note
        candidates.sort(key=_sort_key)
        # Down endpoints only when nothing usable is left; too-big ones only when nothing fits even degraded.
        chosen = (
            [c for c in candidates if c.tier <= DEGRADED] or [c for c in candidates if c.tier == TOO_BIG] or candidates
        )
        title = task.title or job.task.replace("_", " ")
        steps = [self._step(c, title, why if i == 0 else "", i) for i, c in enumerate(chosen[:MAX_STEPS])]
        return steps, work, candidates[0].need

    def _api_v2_rule(self, candidates: list[_Candidate], title: str) -> str:
        """Apply `api_v2_use` to Comfy API v2 candidates (remote, maybe paid); the sentence the plan quotes."""
        remote = [c for c in candidates if c.inst.kind == "api_v2"]
        if not remote:
            return ""
        use = self.policy.api_v2_use
        if use == "never":
            candidates[:] = [c for c in candidates if c.inst.kind != "api_v2"]
            if not candidates:
                raise ConfigError(
                    f"Only Comfy API v2 endpoints could run this {title}, and the routing policy says "
                    'api_v2_use = "never".',
                    'Set api_v2_use = "when_local_busy" or "always" in your routing policy, or add a local ComfyUI.',
                )
            return 'Comfy API v2 not used: api_v2_use = "never"'
        if use == "always":
            return 'Comfy API v2 allowed like any server: api_v2_use = "always"'
        local = [c for c in candidates if c.inst.kind != "api_v2" and c.inst.service == "comfyui" and c.tier <= TRIAL]
        free = [c for c in local if c.ahead == 0]
        if free:
            for c in remote:
                c.order += _V2_SHIFT  # behind every local ComfyUI in its tier
            return f'Comfy API v2 kept back: {free[0].inst.label} is free (api_v2_use = "when_local_busy")'
        cause = "every local ComfyUI is busy" if local else "no local ComfyUI can take it now"
        return f'Comfy API v2 allowed: {cause} (api_v2_use = "when_local_busy")'

    def _degrade(
        self,
        cand: _Candidate,
        job: Job,
        task: TaskPolicy,
        complexity: Complexity,
        estimate: VramEstimate,
        factor: float,
    ) -> None:
        """Nothing fits as asked: make the job lighter for this endpoint (DEGRADED), or mark it TOO_BIG."""
        assert cand.vram.free_gb is not None
        degraded = degrade_to_fit(
            task,
            cand.inst.service,
            complexity,
            job.inputs,
            estimate,
            lambda est, c: est.need_gb(c) * factor,
            cand.vram.free_gb,
            frozenset() if self.policy.degrade_chosen else frozenset(job.chosen),
        )
        if degraded is None:
            cand.tier = TOO_BIG
            if not self.policy.degrade_chosen:
                steps = {step.kind for step in task.degrade if step.service in (None, cand.inst.service)}
                keys = set().union(*(STEP_KEYS.get(kind, frozenset()) for kind in steps))
                cand.kept = tuple(sorted(keys & set(job.chosen)))
        else:
            cand.tier, cand.need, cand.changes, cand.overrides = (
                DEGRADED,
                degraded.need_gb,
                degraded.changes,
                degraded.overrides,
            )

    def _can_free(self, inst: Instance, vram: Vram, need: float, ours: int) -> bool:
        """An idle ComfyUI whose total VRAM would hold the job can drop its cached models first."""
        return (
            self.policy.free_vram_before_heavy
            and inst.service == "comfyui"
            and vram.source == "probed"
            and vram.total_gb is not None
            and need <= 0.9 * vram.total_gb
            and ours == 0
            and inst.queue_depth == 0
        )

    def _step(self, c: _Candidate, title: str, why: str, position: int) -> PlanStep:
        inst, vram, need = c.inst, c.vram, c.need
        parts = [f"{title} ({why})" if why else title]
        if need is None:
            pass
        elif vram.free_gb is None:
            parts.append(f"needs {_gb(need)} GB, VRAM {vram.source}")
        elif vram.source == "probed":
            parts.append(f"{_gb(vram.free_gb)} GB free, needs {_gb(need)}")
        else:
            parts.append(f"{_gb(vram.free_gb)} GB free ({vram.source}), needs {_gb(need)}")
        tier = c.tier
        if tier == FREE_FIRST:
            parts.append(f"will ask it to free its cached models first ({_gb(vram.total_gb or 0)} GB total)")
        elif tier == TRIAL:
            parts.append("recovering: one trial after recent failures")
        elif tier == DEGRADED:
            parts.append("made lighter: " + ", ".join(c.changes))
        elif tier == TOO_BIG and c.kept:
            parts.append(
                f"may run out of memory; not made lighter, you chose {', '.join(c.kept)} "
                "(degrade_chosen = true in the routing policy allows it)"
            )
        elif tier == TOO_BIG:
            parts.append("may run out of memory; nothing lighter is configured")
        elif tier == DOWN:
            retry = inst.breaker.retry_in_s
            parts.append(
                "was down at the last check" + (f", retry in {retry:.0f} s" if retry else "") + "; last resort"
            )
        ahead = c.ahead
        parts.append(("1 job ahead" if ahead == 1 else f"{ahead} jobs ahead") if ahead else "idle")
        reason = f"{'fallback: ' if position else ''}{inst.label}: {', '.join(parts)}"
        if not (c.changes or c.overrides or tier == FREE_FIRST):
            # The usual step: leaving the defaults out skips their validation (about a fifth of the step's cost).
            return PlanStep(service=inst.service, instance=inst.url, label=inst.label, reason=reason)
        return PlanStep(
            service=inst.service,
            instance=inst.url,
            label=inst.label,
            reason=reason,
            changes=c.changes,
            inputs_override=c.overrides or {},
            free_vram_first=tier == FREE_FIRST,
        )

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        """Wake jobs waiting for room in a pool (they re-plan)."""
        self.waiting.generation += 1
        if self._changed is not None:
            old, self._changed = self._changed, asyncio.Event()
            old.set()


def _requested(value: str | None) -> str | None:
    """The service the user forced, or None for "Auto"."""
    if not value or value.strip().lower() == "auto":
        return None
    service = value.strip().lower()
    if service not in SERVICES:
        raise ConfigError(f"Unknown service '{value}'.", f"Choose Auto or one of: {', '.join(SERVICES)}.")
    return service
