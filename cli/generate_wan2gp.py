"""`python -m genbridge generate --service wan2gp --model t2v --prompt "..."`: one WanGP video, headless.

Dispatched from `cli/generate.py`. `--set key=value` pairs fill the job inputs (resolution, frames, steps, seed,
negative_prompt, start_image, end_image, override_profile, width, height); any other key goes to WanGP as a raw setting.
Prints the output path(s) on stdout, one per line; progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..runtime.errors import ConfigError
from ._headless import load_settings, print_progress, run_jobs, with_url

# Inputs that, once the user sets them, the router's degradation leaves alone (runtime.jobs.Job.chosen).
CHOSEN_KEYS = frozenset({"model", "resolution", "width", "height", "frames", "steps"})

JOB_KEYS = (
    "resolution",
    "frames",
    "steps",
    "seed",
    "negative_prompt",
    "start_image",
    "end_image",
    "override_profile",
    "width",
    "height",
)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_inputs(args: Any) -> dict[str, Any]:
    """Job inputs from the parsed arguments (missing values come from the model's defaults on the server)."""
    model, prompt = getattr(args, "model", None), getattr(args, "prompt", None)
    if not model or not prompt:
        raise ConfigError("WanGP needs --model and --prompt.", 'e.g. --model t2v --prompt "a paper boat".')
    inputs: dict[str, Any] = {"model": model, "prompt": prompt}
    for key in JOB_KEYS:
        if getattr(args, key, None) is not None:
            inputs[key] = getattr(args, key)
    extra: dict[str, Any] = {}
    for item in list(getattr(args, "sets", None) or []) + list(getattr(args, "set", None) or []):
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not KEY=VALUE.", "Write it like --set frames=81.")
        key = key.strip()
        if key in JOB_KEYS or key in ("model", "prompt"):
            inputs[key] = (
                _value(value)
                if key not in ("resolution", "prompt", "negative_prompt", "start_image", "end_image", "model")
                else value
            )
        else:
            extra[key] = _value(value)
    if extra:
        inputs["settings"] = extra
    return inputs


def help_epilog() -> str:
    """What `generate --help` lists for WanGP: its settings, per model family."""
    from ..workflows.wan2gp_rules import help_text

    return help_text()


def run_wan2gp(args: Any) -> int:
    """Run one WanGP job to the end; 0 and the output paths on success, 1 with the reason otherwise."""
    inputs = build_inputs(args)
    settings = with_url(
        load_settings(args, output_dir=getattr(args, "output", None)), "wan2gp", getattr(args, "url", None)
    )
    spec = {
        "task": "video",
        "requested_service": "wan2gp",
        "inputs": inputs,
        "service": "wan2gp",
        "chosen": sorted(CHOSEN_KEYS & set(inputs)),  # what the user set is never swapped silently
        **(getattr(args, "job_extra", None) or {}),  # id and captures of `render:` inputs (cli/scene_inputs.py)
    }
    (final,) = run_jobs([spec], settings, print_progress, timeout=getattr(args, "timeout", None))
    for change in final.get("adjustments") or []:
        print(f"changed: {change}", file=sys.stderr)
    if final.get("state") != "done":
        error = final.get("error") or {}
        print(f"error: {error.get('message', final.get('phase'))}\n  {error.get('hint', '')}", file=sys.stderr)
        return 1
    for path in final.get("outputs", []):
        print(path)
    return 0
