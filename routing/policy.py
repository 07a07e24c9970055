"""The routing policy as data: task types, the services and models that can do them, VRAM estimates, rules.

Loaded once from `default_policy.toml` (beside this module) or the user's `settings.policy_file`, validated at
this edge, then only read. Adding a task type or a rule is an edit of the TOML, never new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..runtime.errors import ConfigError
from ..runtime.settings import SERVICES

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")


@dataclass(frozen=True, slots=True)
class Complexity:
    """How big a job is: the numbers both the VRAM estimate and the work estimate depend on."""

    width: int
    height: int
    frames: int
    steps: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def work(self) -> float:
        """Relative compute (megapixel-frame-steps); only ratios between jobs matter."""
        return max(self.width * self.height / 1e6, 0.01) * max(self.frames, 1) * max(self.steps, 1)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VramEstimate(_Frozen):
    """need_gb = base + per_megapixel*mpx + per_megapixel_frame*mpx*frames + per_step*steps."""

    base_gb: float = 0.0
    per_megapixel_gb: float = 0.0
    per_megapixel_frame_gb: float = 0.0
    per_step_gb: float = 0.0

    def need_gb(self, c: Complexity) -> float:
        mpx = c.megapixels
        return (
            self.base_gb
            + self.per_megapixel_gb * mpx
            + self.per_megapixel_frame_gb * mpx * c.frames
            + self.per_step_gb * c.steps
        )


class ServiceOption(_Frozen):
    """One service that can do a task: its models and VRAM estimate (None = no local VRAM, e.g. LiteLLM)."""

    models: list[str] = Field(default_factory=list)
    vram: VramEstimate | None = None
    vram_factor: float = Field(1.0, gt=0)


class DegradeStep(_Frozen):
    """One way to make a job lighter; see the comment in default_policy.toml."""

    kind: Literal["scale", "steps", "frames", "model"]
    factor: float | None = Field(None, gt=0, lt=1)
    min: int | None = Field(None, ge=1)
    max: int | None = Field(None, ge=1)
    service: str | None = None
    model: str | None = None
    vram: VramEstimate | None = None

    @model_validator(mode="after")
    def _complete(self) -> DegradeStep:
        needed = {"scale": ("factor",), "steps": ("factor",), "frames": ("max",), "model": ("model", "vram")}
        missing = [f for f in needed[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"degrade step '{self.kind}' needs {', '.join(missing)}")
        return self


class ComplexityDefaults(_Frozen):
    width: int = Field(0, ge=0)
    height: int = Field(0, ge=0)
    frames: int = Field(1, ge=1)
    steps: int = Field(1, ge=1)


class TaskPolicy(_Frozen):
    """A task type: which services can do it (in default preference order) and how to make it lighter."""

    title: str = ""
    services: dict[str, ServiceOption]
    defaults: ComplexityDefaults = Field(default_factory=ComplexityDefaults)
    degrade: list[DegradeStep] = Field(default_factory=list)


class Rule(_Frozen):
    """First matching rule orders the services of a job; VRAM conditions use the most free VRAM available."""

    tasks: list[str] = Field(default_factory=list)
    when_free_vram_below_gb: float | None = None
    when_free_vram_at_least_gb: float | None = None
    prefer: list[str]
    reason: str = ""

    def matches(self, task: str, best_free_gb: float | None) -> bool:
        if self.tasks and task not in self.tasks:
            return False
        return self.vram_matches(best_free_gb)

    def vram_matches(self, best_free_gb: float | None) -> bool:
        """The rule's VRAM conditions (if any) hold for `best_free_gb`."""
        if self.when_free_vram_below_gb is not None and (
            best_free_gb is None or best_free_gb >= self.when_free_vram_below_gb
        ):
            return False
        return self.when_free_vram_at_least_gb is None or (
            best_free_gb is not None and best_free_gb >= self.when_free_vram_at_least_gb
        )


class PoolPolicy(_Frozen):
    selection: Literal["least_loaded", "round_robin"] = "least_loaded"
    max_queued_per_instance: int = Field(2, ge=1)


class BreakerPolicy(_Frozen):
    failures_to_open: int = Field(2, ge=1)
    cooldown_s: float = Field(10.0, gt=0)
    max_cooldown_s: float = Field(120.0, gt=0)


class Wan2GPProfile(_Frozen):
    """What a WanGP memory profile assumes about the GPU, and how much of a model it keeps in VRAM."""

    assumes_vram_gb: float = Field(gt=0)
    vram_factor: float = Field(1.0, gt=0)


class Policy(_Frozen):
    """The whole routing policy."""

    low_vram_gb: float = 8.0
    free_vram_before_heavy: bool = True
    # Degradation changes only what the user left open; true lets it lower their chosen model/frames/size/steps too.
    degrade_chosen: bool = False
    # When jobs may go to a Comfy API v2 endpoint (kind = "api_v2": Comfy Cloud or comfy-api-proxy), which may be
    # remote and paid: "never", "when_local_busy" (every usable local ComfyUI has work, or none can take the job),
    # or "always" (like any other server: whichever is expected to finish the job first). The plan says which applied.
    api_v2_use: Literal["never", "when_local_busy", "always"] = "when_local_busy"
    pool: PoolPolicy = Field(default_factory=PoolPolicy)
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)
    wan2gp_profiles: dict[str, Wan2GPProfile] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    tasks: dict[str, TaskPolicy]

    @cached_property
    def rule_orders(self) -> dict[str, tuple[list[str], list[tuple[Rule, list[str], str]]]]:
        """Per task: its own service order, and each rule naming it (or every task) with the order that rule gives.

        Derived from the fields once, so `service_order` (on every plan) only has to check VRAM conditions.
        """
        orders = {}
        for name, task in self.tasks.items():
            own = list(task.services)
            rules = []
            for rule in self.rules:
                if not rule.tasks or name in rule.tasks:
                    first = [s for s in rule.prefer if s in own]
                    rules.append((rule, first + [s for s in own if s not in first], rule.reason))
            orders[name] = (own, rules)
        return orders

    @model_validator(mode="after")
    def _known_services(self) -> Policy:
        for name, task in self.tasks.items():
            for service in [*task.services, *(d.service for d in task.degrade if d.service)]:
                if service not in SERVICES:
                    raise ValueError(f"task '{name}' names unknown service '{service}' (known: {', '.join(SERVICES)})")
        for rule in self.rules:
            for service in rule.prefer:
                if service not in SERVICES:
                    raise ValueError(f"a rule prefers unknown service '{service}'")
        return self

    def task(self, name: str) -> TaskPolicy:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks))
            raise ConfigError(
                f"GenBridge does not know the task '{name}'.", f"Use one of: {known}, or add it to the routing policy."
            ) from None

    def service_order(self, task: str, best_free_gb: float | None) -> tuple[list[str], str]:
        """The task's services in preference order, and the reason (from the first matching rule)."""
        entry = self.rule_orders.get(task)
        if entry is None:
            self.task(task)  # raises the unknown-task error
            raise AssertionError(task)
        own, rules = entry
        for rule, order, reason in rules:
            if rule.vram_matches(best_free_gb):
                return list(order), reason
        return list(own), ""

    def complexity(self, task: str, inputs: dict[str, Any]) -> Complexity:
        """Job complexity from its inputs (`width`/`height` or `resolution` "WxH", `frames`, `steps`).

        What the inputs do not say is read from an API-format `workflow` among them (a ComfyUI job sent as a graph),
        then from the task's defaults.
        """
        d = self.task(task).defaults
        get = inputs.get
        dw, dh, df, ds = d.width, d.height, d.frames, d.steps
        workflow = get("workflow")
        if isinstance(workflow, dict):
            hints = workflow_complexity(workflow)
            dw, dh = hints.get("width", dw), hints.get("height", dh)
            df, ds = hints.get("frames", df), hints.get("steps", ds)
        width, height = _int(get("width"), dw), _int(get("height"), dh)
        res = get("resolution")
        if isinstance(res, str) and "x" in res.lower():
            w, _, h = res.lower().partition("x")
            width, height = _int(w, width), _int(h, height)
        frames = _int(inputs["frames"] if "frames" in inputs else get("video_length"), df)
        steps = _int(inputs["steps"] if "steps" in inputs else get("num_inference_steps"), ds)
        return Complexity(width, height, max(frames, 1), max(steps, 1))


_WORKFLOW_KEYS = {
    "width": "width",
    "height": "height",
    "steps": "steps",
    "length": "frames",
    "frames": "frames",
    "num_frames": "frames",
    "video_length": "frames",
}


def workflow_complexity(graph: dict[str, Any]) -> dict[str, int]:
    """Width, height, frames and steps an API-format graph asks for: the largest literal of each over its nodes.

    Sampler `steps` is what makes a ComfyUI job long; latent `width`/`height` and video `length` set its size.
    """
    found: dict[str, int] = {}
    for node in graph.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for key, value in inputs.items():
            name = _WORKFLOW_KEYS.get(key)
            if name is not None and type(value) is int and value > found.get(name, 0):
                found[name] = value
    return found


def _int(value: Any, default: int) -> int:
    if type(value) is int:  # the common case, without the exception machinery
        return value
    try:
        return int(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        return default


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at `path` (the user's file), or the default one; errors name the file and the field."""
    source = Path(path).expanduser() if path else DEFAULT_POLICY_PATH
    from ..runtime.settings import read_toml

    data = read_toml(
        source,
        "routing policy file",
        missing_hint="Fix 'policy_file' in GenBridge preferences, or clear it to use the default.",
    )
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise ConfigError(
            f"Invalid routing policy {source}: {problems}.", "Compare it with routing/default_policy.toml."
        ) from None
