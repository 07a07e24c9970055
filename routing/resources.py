"""Live resources per endpoint: health, free/total VRAM, capabilities and queue depth, from probes and settings.

ComfyUI reports VRAM in `/system_stats` (on a CPU server those numbers are system RAM). WanGP reports none, so
its usable VRAM comes from the memory profile it runs with (`settings.wan2gp_profile`, or a profile its probe
reports in `capabilities`). `settings.vram_override_gb` wins over both: it is what the user told us.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..runtime.backend import ProbeResult
from ..runtime.settings import SERVICE_TITLES, Endpoint, Settings
from .breaker import BreakerState, CircuitBreaker
from .policy import Policy, Wan2GPProfile

OOM_MEMORY_S = 600.0  # how long an out-of-memory failure caps what we believe an endpoint can hold


@dataclass(frozen=True, slots=True)
class Vram:
    """Usable VRAM of an endpoint, and where the number came from (said in the plan's reason)."""

    free_gb: float | None
    total_gb: float | None
    source: str  # "probed", "CPU RAM", "your setting", "profile 4", "not probed"


@dataclass(slots=True)
class Instance:
    """One endpoint as the router sees it (`url` is the endpoint's URL; the class name predates "endpoint")."""

    service: str
    url: str
    name: str
    breaker: CircuitBreaker
    reachable: bool | None = None  # None: never probed
    probe: ProbeResult | None = None
    oom_ceiling_gb: float | None = None
    oom_at: float = 0.0
    incompatible_tasks: set[str] = field(default_factory=set)
    label: str = ""  # "ComfyUI at gpu-box", kept ready: plans quote it in every step
    kind: str = "native"  # the endpoint's protocol: "api_v2" may be remote and paid (policy `api_v2_use`)
    # VRAM and need factor as derived from (probe, VRAM override, WanGP profile, policy): every plan reads them,
    # and they only change when one of those four does (see Resources._derived).
    derived: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rename(self.name)

    def rename(self, name: str) -> None:
        self.name = name
        self.label = f"{SERVICE_TITLES.get(self.service, self.service)} at {name}"

    @property
    def queue_depth(self) -> int:
        """Jobs the server itself reports queued or running (ours and anyone else's)."""
        return self.probe.queue_depth if self.probe else 0

    def health(self) -> BreakerState | None:
        """CLOSED or HALF_OPEN when usable; OPEN when skipped; None when its last probe found it unreachable."""
        state = self.breaker.state
        if self.reachable is False and state is BreakerState.CLOSED:
            return None
        return state


class Resources:
    """The configured endpoints (one `Instance` each, by URL) and everything we know about them."""

    def __init__(self, settings: Settings, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.policy = policy
        self.settings = settings
        self._endpoints: dict[str, Instance] = {}
        self._by_service: dict[str, list[Instance]] = {}
        self.update_settings(settings)

    def update_settings(self, settings: Settings, policy: Policy | None = None) -> None:
        """Keep what we learned about endpoints that are still configured; add new ones; drop the rest."""
        self.settings = settings
        self.policy = policy or self.policy
        old = self._endpoints
        self._endpoints = {}
        self._by_service = {}
        b = self.policy.breaker
        for ep in settings.all_endpoints():
            inst = old.get(ep.url)
            if inst is None or inst.service != ep.service:
                inst = Instance(
                    ep.service,
                    ep.url,
                    ep.name,
                    CircuitBreaker(b.failures_to_open, b.cooldown_s, b.max_cooldown_s, self.clock),
                )
            inst.rename(ep.name)
            inst.kind = ep.kind
            if ep.kind == "api_v2":
                inst.label = f"Comfy API v2 at {ep.name}"
            self._endpoints[ep.url] = inst
            self._by_service.setdefault(ep.service, []).append(inst)

    def instances(self, service: str) -> list[Instance]:
        return self._by_service.get(service, [])

    def get(self, url: str) -> Instance | None:
        return self._endpoints.get(url)

    def all(self) -> list[Instance]:
        return list(self._endpoints.values())

    def observe_probe(self, result: ProbeResult) -> None:
        """A probe result: health feeds the breaker; VRAM, models and queue depth are kept for decisions."""
        inst = self._endpoints.get(result.url.rstrip("/"))
        if inst is None:
            return
        inst.reachable = result.reachable
        if result.reachable:
            inst.probe = result
            inst.breaker.record_success()
        else:
            inst.breaker.record_failure()

    def endpoint_for(self, url: str) -> Endpoint | None:
        for ep in self.settings.all_endpoints():
            if ep.url == url:
                return ep
        return None

    def wan2gp_profile(self, inst: Instance) -> tuple[str, Wan2GPProfile | None]:
        caps = inst.probe.capabilities if inst.probe else {}
        key = str(caps.get("profile") or self.settings.wan2gp_profile)
        key = key.split(".")[0]  # "3.5"/"4.5" behave like 3/4 for VRAM purposes
        return key, self.policy.wan2gp_profiles.get(key)

    def _derived(self, inst: Instance) -> tuple[Any, ...]:
        """(probe, override, profile, policy, Vram, need factor), recomputed only when one of the first four changed.

        Probes are frozen and replaced whole, so identity tells a new probe; settings can be edited in place, so
        the two settings values are compared by value.
        """
        memo = inst.derived
        probe, settings, policy = inst.probe, self.settings, self.policy
        override, profile = settings.vram_override_gb, settings.wan2gp_profile
        if memo is None or memo[0] is not probe or memo[1] != override or memo[2] != profile or memo[3] is not policy:
            memo = inst.derived = (probe, override, profile, policy, self._vram(inst), self._need_factor(inst))
        return memo

    def vram(self, inst: Instance) -> Vram:
        """Usable VRAM of `inst` now, capped by a recent out-of-memory failure."""
        vram: Vram = self._derived(inst)[4]
        if inst.oom_ceiling_gb is not None:
            if self.clock() - inst.oom_at > OOM_MEMORY_S:
                inst.oom_ceiling_gb = None
            elif vram.free_gb is None or vram.free_gb > inst.oom_ceiling_gb:
                return Vram(inst.oom_ceiling_gb, vram.total_gb, "ran out of memory recently")
        return vram

    def _vram(self, inst: Instance) -> Vram:
        override = self.settings.vram_override_gb
        probe = inst.probe
        total = probe.vram_total_gb if probe else None
        if override is not None:
            return Vram(override, total if total is not None else override, "your setting")
        if inst.service == "litellm":
            return Vram(None, None, "not needed")
        if probe is not None and probe.vram_free_gb is not None:
            return Vram(probe.vram_free_gb, total, "CPU RAM" if probe.device == "cpu" else "probed")
        caps: dict[str, Any] = probe.capabilities if probe else {}
        if caps.get("vram_free_gb") is not None:
            return Vram(float(caps["vram_free_gb"]), caps.get("vram_total_gb"), "probed")
        if inst.service == "wan2gp":
            key, profile = self.wan2gp_profile(inst)
            if profile is not None:
                return Vram(profile.assumes_vram_gb, profile.assumes_vram_gb, f"profile {key} assumes")
        return Vram(None, None, "not probed")

    def need_factor(self, inst: Instance) -> float:
        """WanGP streams parts of a model from RAM under its low-VRAM profiles, so it needs less VRAM."""
        if inst.service != "wan2gp":
            return 1.0
        factor: float = self._derived(inst)[5]
        return factor

    def _need_factor(self, inst: Instance) -> float:
        if inst.service != "wan2gp":
            return 1.0
        _, profile = self.wan2gp_profile(inst)
        return profile.vram_factor if profile else 1.0

    def record_oom(self, url: str, need_gb: float | None) -> None:
        """Remember that `url` could not hold a job of `need_gb`, until a while has passed."""
        inst = self._endpoints.get(url)
        if inst is None:
            return
        vram = self._vram(inst)
        ceiling = (need_gb if need_gb is not None else vram.free_gb or 0.0) * 0.95
        inst.oom_ceiling_gb = ceiling if inst.oom_ceiling_gb is None else min(ceiling, inst.oom_ceiling_gb)
        inst.oom_at = self.clock()
