"""A first router: task type -> preferred services, enabled endpoints in order, a user override.

The full router (live VRAM, health, queue depth, pools, circuit breakers, degradation) replaces `plan()`
behind the same interface: `plan(job) -> list[PlanStep]`, `observe_probe(result)`, `record_failure(url, exc)`.
"""

from __future__ import annotations

from typing import Any

from ..runtime.errors import ConfigError
from ..runtime.jobs import Job, PlanStep
from ..runtime.settings import SERVICE_TITLES, Settings

TASK_SERVICES: dict[str, tuple[str, ...]] = {
    "text": ("litellm",),
    "shotlist": ("litellm",),
    "prompt": ("litellm",),
    "image": ("comfyui",),
    "keyframe": ("comfyui",),
    "character_image": ("comfyui",),
    "upscale": ("comfyui",),
    "quick_preview": ("wan2gp", "comfyui"),
    "final_video": ("comfyui", "wan2gp"),
    "video": ("wan2gp", "comfyui"),
}


class Router:
    """Plans jobs from the settings' endpoints."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings

    def observe_probe(self, result: Any) -> None:
        """Live resources arrive here (used by the full router)."""

    def record_failure(self, instance: str, exc: Exception) -> None:
        """Failures feed circuit breakers in the full router."""

    def plan(self, job: Job) -> list[PlanStep]:
        services = (job.requested_service,) if job.requested_service else TASK_SERVICES.get(job.task, ())
        if not services:
            raise ConfigError(f"GenBridge does not know the task '{job.task}'.",
                              f"Use one of: {', '.join(sorted(TASK_SERVICES))}.")
        steps = [
            PlanStep(service=svc, instance=ep.url, label=f"{SERVICE_TITLES[svc]} at {ep.name}",
                     reason=f"{SERVICE_TITLES[svc]} at {ep.name}: {job.task.replace('_', ' ')}")
            for svc in services
            for ep in self.settings.endpoints(svc)
        ]
        if not steps:
            raise ConfigError(f"No enabled {' or '.join(SERVICE_TITLES[s] for s in services)} endpoint.",
                              "Add one in GenBridge preferences (or genbridge.toml).")
        return steps
