"""WanGP presets per model family (`wan2gp_presets.toml`): resolution, frames, steps, fps and memory profile."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.errors import ConfigError

PRESETS_FILE = Path(__file__).resolve().parent / "wan2gp_presets.toml"


@dataclass(frozen=True)
class Wan2GPPreset:
    """Settings for one WanGP model; `quick_preview` overrides resolution/frames/steps for drafts."""

    name: str
    family: str
    model_type: str
    resolution: str
    frames: int
    steps: int
    fps: int
    frames_minimum: int = 5
    frames_steps: int = 4
    profile: float = 4
    description: str = ""
    inputs: tuple[str, ...] = ("text",)
    guidance_scale: float | None = None
    min_vram_gb: float | None = None
    quick_preview: dict[str, Any] = field(default_factory=dict)
    templates: tuple[str, ...] = ()  # bundled ComfyUI templates WanGP runs with this preset (router may pick WanGP)

    def snap_frames(self, frames: int) -> int:
        """The nearest valid frame count at or below `frames`: 1 + k * frames_steps, at least frames_minimum."""
        k = max(0, (int(frames) - 1) // self.frames_steps)
        return max(self.frames_minimum, 1 + k * self.frames_steps)

    def settings(self, *, quick: bool = False) -> dict[str, Any]:
        """WanGP generate settings for this preset (`resolution`, `video_length`, ...)."""
        chosen: dict[str, Any] = {"resolution": self.resolution, "frames": self.frames, "steps": self.steps}
        if quick:
            chosen.update(self.quick_preview)
        out: dict[str, Any] = {
            "model_type": self.model_type,
            "resolution": chosen["resolution"],
            "video_length": self.snap_frames(chosen["frames"]),
            "num_inference_steps": chosen["steps"],
            "force_fps": str(self.fps),
        }
        if self.guidance_scale is not None:
            out["guidance_scale"] = self.guidance_scale
        return out


def load_wan2gp_presets(path: str | Path | None = None) -> dict[str, Wan2GPPreset]:
    """All presets in the TOML file (the bundled one by default); ConfigError names a bad entry."""
    path = Path(path) if path else PRESETS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the WanGP presets {path}: {exc}.") from None
    presets = {}
    for name, raw in data.items():
        try:
            raw = dict(raw)
            raw["inputs"] = tuple(raw.get("inputs", ("text",)))
            raw["templates"] = tuple(raw.get("templates", ()))
            presets[name] = Wan2GPPreset(name=name, **raw)
        except TypeError as exc:
            raise ConfigError(f"The WanGP preset [{name}] in {path} is invalid: {exc}.") from None
    return presets


def wan2gp_preset(name_or_model_type: str, path: str | Path | None = None) -> Wan2GPPreset | None:
    """A preset by its name or by its WanGP model_type, or None."""
    presets = load_wan2gp_presets(path)
    if name_or_model_type in presets:
        return presets[name_or_model_type]
    return next((p for p in presets.values() if p.model_type == name_or_model_type), None)
