"""ComfyUI templates WanGP can run too: a template job's inputs as WanGP job inputs, through the template's preset.

A job made from a bundled video template (`wan21_flf2v`, `wan22_ti2v_i2v`, ...) carries the template's parameter
names and a ComfyUI model *file* in `model`. When the router sends it to WanGP, the preset that lists the template
in its `templates` (`wan2gp_presets.toml`) names the WanGP model type, and the parameters that mean the same thing
on WanGP keep their values under WanGP's names. ComfyUI-only parameters (sampler, text encoder, VAE files) are
left out, and the user is told when they had set one. Pure and stdlib (reads the bundled presets file once).
Thread rule: any thread (the loop thread calls it in the WanGP client's pre-flight).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from functools import lru_cache
from pathlib import PurePath
from typing import Any

from ..runtime.backend import Problem
from .presets import Wan2GPPreset, load_wan2gp_presets

# A template parameter -> the WanGP job input of the same meaning.
INPUT_ALIASES = {"image": "start_image"}
# A template parameter -> the raw WanGP setting of the same meaning (sent through `inputs["settings"]`).
SETTING_ALIASES = {"cfg": "guidance_scale", "shift": "flow_shift", "fps": "force_fps"}
# Job inputs WanGP understands by these names (`workflows.wan2gp_rules.prepare` and the client).
WAN2GP_INPUTS = frozenset(
    {
        "model",
        "prompt",
        "negative_prompt",
        "resolution",
        "width",
        "height",
        "frames",
        "steps",
        "seed",
        "start_image",
        "end_image",
        "override_profile",
        "settings",
    }
)
# File endings of ComfyUI model files: a `model` input that ends so is a template's file, not a WanGP model type.
MODEL_FILE_SUFFIXES = (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".sft")


@lru_cache(maxsize=1)
def _presets_by_template() -> dict[str, Wan2GPPreset]:
    return {template: preset for preset in load_wan2gp_presets().values() for template in preset.templates}


def preset_for_template(template: str | None) -> Wan2GPPreset | None:
    """The WanGP preset that runs the template called `template` (or the workflow file of that name), or None."""
    if not template:
        return None
    name = PurePath(template).stem if template.endswith(".json") else template
    return _presets_by_template().get(name)


def is_model_file(model: Any) -> bool:
    return isinstance(model, str) and model.lower().endswith(MODEL_FILE_SUFFIXES)


def wan2gp_inputs(
    template: str | None, inputs: dict[str, Any], chosen: Collection[str] = ()
) -> tuple[dict[str, Any], list[str], Problem | None]:
    """(WanGP job inputs, changes in words for the job record, problem) for a job's inputs.

    A job without a template is returned as it is. A template without a WanGP preset is a problem unless its
    `model` already names a WanGP model type (a user template meant for both).
    """
    if not template:
        return inputs, [], None
    preset = preset_for_template(template)
    model = inputs.get("model")
    if preset is None:
        if model and not is_model_file(model):
            return inputs, [], None
        return (
            inputs,
            [],
            Problem(
                field="template",
                message=f'the template "{template}" has no WanGP preset, so WanGP cannot run it',
                hint="Send it to ComfyUI (Service: ComfyUI), or leave the template empty and give a WanGP model.",
            ),
        )
    out = {key: value for key, value in inputs.items() if key in WAN2GP_INPUTS}
    changes: list[str] = []
    if not model or is_model_file(model):
        out["model"] = preset.model_type
        was = f"model {model} -> " if model else "model "
        changes.append(f"{was}{preset.model_type}: WanGP runs the template {template} with its preset {preset.name}")
    for name, key in INPUT_ALIASES.items():
        if inputs.get(name) and not inputs.get(key):
            out[key] = inputs[name]
    raw = out.get("settings")
    extra = dict(raw) if isinstance(raw, dict) else ({} if raw is None else raw)  # a bad value: prepare names it
    if isinstance(extra, dict):
        for name, key in SETTING_ALIASES.items():
            value = inputs.get(name)
            if value is None or key in extra:
                continue
            if key == "force_fps":  # WanGP takes fps as a string ("16"); anything else goes as given, WanGP checks it
                number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                value = str(int(value)) if number and float(value).is_integer() else str(value)
            extra[key] = value
        if extra:
            out["settings"] = extra
    known = WAN2GP_INPUTS | set(INPUT_ALIASES) | set(SETTING_ALIASES)
    dropped = sorted(key for key in inputs if key not in known and key in set(chosen))
    if dropped:
        changes.append(f"{', '.join(dropped)} not used: ComfyUI-only parameters of {template}, WanGP has none")
    return out, changes, None


def task_default_inputs(task: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A video job with neither template nor model (Blender's generic Generate): WanGP runs it with the preset of
    the task's default template (text to video, or image to video when it has an image), and says so."""
    from .api import VIDEO_TASKS, default_template_name

    if task not in VIDEO_TASKS or inputs.get("model"):
        return inputs, []
    preset = preset_for_template(default_template_name(task, inputs))
    if preset is None:
        return inputs, []
    out = {**inputs, "model": preset.model_type}
    for name, key in INPUT_ALIASES.items():
        if inputs.get(name) and not inputs.get(key):
            out[key] = inputs[name]
    return out, [f"model {preset.model_type}: no model was given; WanGP's preset {preset.name} for a {task} job"]
