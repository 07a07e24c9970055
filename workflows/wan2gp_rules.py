"""WanGP model rules: turn a job's inputs into WanGP settings, checked against the model's own limits. Pure, stdlib.

The WanGP client only speaks the protocol; this module decides what a job means for a model: frames on the
model's grid (`minimum + k * step`) and within its maximum, resolution as WxH in multiples of 16 (and one of the
model's choices when it lists them), steps within the model's range, the extra settings a user may pass. Anything
that does not fit is a `Problem` naming the limit and the nearest valid value; a frame count off the grid is
snapped and the change is recorded (never silently), like "frames 80 -> 81: Wan2.1 Text2video 14B needs 4k+1".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.backend import Problem

RESOLUTION_MULTIPLE = 16
_RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
DEFAULT_RESOLUTION = "832x480"
MEMORY_PROFILES = (-1, 1, 2, 3, 4, 5)  # WanGP's --profile values; -1 = the server's own

# Settings a user may pass through `inputs["settings"]` besides the model's defaults (WanGP docs/SETTINGS.md).
EXTRA_SETTING_KEYS = frozenset(
    {
        "guidance_scale",
        "guidance2_scale",
        "guidance_phases",
        "switch_threshold",
        "flow_shift",
        "sample_solver",
        "force_fps",
        "repeat_generation",
        "activated_loras",
        "loras_multipliers",
        "override_attention",
        "spatial_upsampling",
        "temporal_upsampling",
        "film_grain_intensity",
        "film_grain_saturation",
        "sliding_window_size",
        "sliding_window_overlap",
        "image_prompt_type",
        "video_prompt_type",
    }
)

# What `generate --service wan2gp --help` lists, per model family (job inputs first, then raw WanGP settings).
JOB_SETTINGS = {
    "resolution": "WIDTHxHEIGHT, multiples of 16, 64 on LTX-2 (e.g. 832x480); the model's default when left out",
    "frames": "clip length in frames on the model's grid (Wan/Hunyuan 4k+1, LTX 8k+1), up to its maximum",
    "steps": "sampling steps (fewer is faster and rougher)",
    "seed": "a whole number; -1 for random",
    "negative_prompt": "what to avoid",
    "start_image": "path of a start image (image-to-video models only), uploaded by ticket",
    "end_image": "path of an end image (first-last-frame models, with start_image), uploaded by ticket",
    "override_profile": "WanGP memory profile 1-5 for this job (-1 = the server's)",
}
FAMILY_SETTINGS = {
    "Wan 2.1 / 2.2 (t2v, t2v_1.3B, i2v_2_2, ti2v_2_2, vace_*)": (
        "frames 5..97 as 4k+1 (81 = 5 s at 16 fps); Wan 2.2 14B also takes guidance2_scale, switch_threshold"
    ),
    "Hunyuan (hunyuan, hunyuan_1_5_*)": "frames 4k+1 at 24 fps; flow_shift, guidance_scale",
    "LTX / LTX-2 (ltxv_*, ltx2_*)": "frames 8k+1 (at least 17) at 24 fps; resolution in multiples of 64 on LTX-2",
}


@dataclass(frozen=True)
class FrameRule:
    """Valid frame counts are `minimum + k * step` (4k+1 for Wan and Hunyuan, 8k+1 for LTX)."""

    step: int
    minimum: int

    @classmethod
    def for_family(cls, family: str) -> FrameRule:
        if family.lower().startswith("ltx"):
            return cls(step=8, minimum=17)
        return cls(step=4, minimum=5)

    @property
    def text(self) -> str:
        offset = self.minimum % self.step
        return f"{self.step}k+{offset} (at least {self.minimum})" if offset else f"{self.minimum} + {self.step}k"

    def snap(self, frames: int) -> int:
        """The nearest valid count (ties go up, counts below the minimum go to the minimum)."""
        if frames <= self.minimum:
            return self.minimum
        k = (frames - self.minimum + self.step // 2) // self.step
        return self.minimum + k * self.step

    def floor(self, frames: int) -> int:
        """The largest valid count not above `frames` (at least the minimum)."""
        return self.minimum + max(0, (frames - self.minimum) // self.step) * self.step

    def is_valid(self, frames: int) -> bool:
        return frames >= self.minimum and (frames - self.minimum) % self.step == 0


@dataclass(frozen=True)
class ModelLimits:
    """What a model accepts, from its schema (`wangp_get_model_schema` metadata or v2 capabilities)."""

    model_type: str
    name: str = ""
    family: str = ""
    frames_minimum: int | None = None
    frames_steps: int | None = None
    frames_maximum: int | None = None
    sliding_window: bool = False
    resolutions: tuple[str, ...] = ()
    steps_minimum: int | None = None
    steps_maximum: int | None = None
    accepts_start_image: bool = False
    accepts_end_image: bool = False
    resolution_multiple: int = RESOLUTION_MULTIPLE  # the model's own grid (WanGP floors to its vae_block_size)

    @property
    def label(self) -> str:
        return self.name or self.model_type

    def frame_rule(self) -> FrameRule:
        if self.frames_steps and self.frames_minimum:
            return FrameRule(step=self.frames_steps, minimum=self.frames_minimum)
        return FrameRule.for_family(self.family or self.model_type)


@dataclass
class Prepared:
    """The settings to send, what is wrong, and every change made to what the user asked (for the job record)."""

    settings: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    input_updates: dict[str, Any] = field(default_factory=dict)


def parse_resolution(value: Any) -> tuple[int, int] | None:
    """'832x480' -> (832, 480); None when it is not WxH."""
    if not isinstance(value, str):
        return None
    match = _RESOLUTION.match(value)
    return (int(match.group(1)), int(match.group(2))) if match else None


def resolution_multiple_for(family: str, model_type: str, vae_block_size: int | None = None) -> int:
    """The multiple a model's width and height must be: its `vae_block_size` when the server says, else 64 for
    LTX-2 (WanGP notes: coarser than the usual 16) and 16 for the others."""
    if vae_block_size and vae_block_size > 0:
        return int(vae_block_size)
    return 64 if (family or model_type).lower().startswith("ltx2") else RESOLUTION_MULTIPLE


def snap_to_grid(width: int, height: int, multiple: int) -> str:
    """The nearest WxH with both sides multiples of `multiple` (a tie goes down, as WanGP floors; at least one
    multiple)."""

    def snap(v: int) -> int:
        low = v // multiple * multiple
        return max(multiple, low if v - low <= multiple / 2 else low + multiple)

    return f"{snap(width)}x{snap(height)}"


def nearest_resolution(width: int, height: int, choices: tuple[str, ...] = ()) -> str:
    """The closest valid WxH: one of `choices` when the model lists them, else both sides multiples of 16."""
    sizes = [s for s in (parse_resolution(c) for c in choices) if s]
    if sizes:
        w, h = min(sizes, key=lambda s: abs(s[0] - width) + abs(s[1] - height))
        return f"{w}x{h}"

    def snap(v: int) -> int:
        return max(RESOLUTION_MULTIPLE, round(v / RESOLUTION_MULTIPLE) * RESOLUTION_MULTIPLE)

    return f"{snap(width)}x{snap(height)}"


def prepare(
    inputs: dict[str, Any], limits: ModelLimits, defaults: dict[str, Any], chosen: Collection[str] = ()
) -> Prepared:
    """WanGP settings for a job: the model's defaults overlaid with the job's inputs, every limit checked.

    `chosen` names the inputs the user set (`Job.chosen`): a size off the model's grid is refused when they chose
    it, else moved to the nearest valid one and the change recorded."""
    settings: dict[str, Any] = {
        **defaults,
        "model_type": limits.model_type,
        "prompt": str(inputs.get("prompt") or ""),
    }
    out = Prepared(settings)
    if not settings["prompt"].strip():
        out.problems.append(Problem(field="prompt", message="the prompt is empty", hint="Describe the video."))
    _resolution(inputs, limits, defaults, out, chosen)
    _frames(inputs, limits, out)
    _steps(inputs, limits, out)
    if inputs.get("seed") is not None:
        try:
            settings["seed"] = int(inputs["seed"])
        except (TypeError, ValueError):
            out.problems.append(Problem(field="seed", message=f"'{inputs['seed']}' is not a whole number"))
    if inputs.get("negative_prompt"):
        settings["negative_prompt"] = str(inputs["negative_prompt"])
    _profile(inputs, out)
    _extra_settings(inputs.get("settings"), defaults, out)
    return out


def _profile(inputs: dict[str, Any], out: Prepared) -> None:
    """`override_profile`: a WanGP memory profile 1..5, or -1 for the server's own."""
    value = inputs.get("override_profile")
    if value is None:
        return
    if value not in MEMORY_PROFILES:
        out.problems.append(
            Problem(
                field="override_profile",
                message=f"profile {value} does not exist",
                hint="Use a WanGP memory profile from 1 to 5.",
                fix={"override_profile": 4},
            )
        )
        return
    out.settings["override_profile"] = int(value)


def _resolution(
    inputs: dict[str, Any], limits: ModelLimits, defaults: dict[str, Any], out: Prepared, chosen: Collection[str]
) -> None:
    raw = inputs.get("resolution")
    if raw is None and inputs.get("width") is not None and inputs.get("height") is not None:
        raw = f"{inputs['width']}x{inputs['height']}"
    default = str(defaults.get("resolution") or DEFAULT_RESOLUTION)
    if raw is None:
        _model_grid(default, limits, out, given=False, chosen=False, inputs=inputs)
        return
    size = parse_resolution(raw)
    if size is None or min(size) <= 0:
        out.problems.append(
            Problem(
                field="resolution",
                message=f"'{raw}' is not WIDTHxHEIGHT; valid sizes are two "
                f"multiples of {limits.resolution_multiple}, e.g. {default} (this model's default)",
                fix={"resolution": default},
            )
        )
        return
    width, height = size
    if width % RESOLUTION_MULTIPLE or height % RESOLUTION_MULTIPLE:
        near = nearest_resolution(width, height, limits.resolutions)
        out.problems.append(
            Problem(
                field="resolution",
                message=f"{width}x{height} is not valid: width and height must be "
                f"multiples of {RESOLUTION_MULTIPLE}; the nearest valid size is {near}",
                fix={"resolution": near},
            )
        )
        return
    choices = {parse_resolution(c) for c in limits.resolutions} - {None}
    if choices and (width, height) not in choices:
        near = nearest_resolution(width, height, limits.resolutions)
        out.problems.append(
            Problem(
                field="resolution",
                message=f"{width}x{height} is not one of {limits.label}'s resolutions "
                f"({', '.join(limits.resolutions[:8])}); the nearest is {near}",
                fix={"resolution": near},
            )
        )
        return
    size_chosen = bool({"resolution", "width", "height"} & set(chosen))
    _model_grid(f"{width}x{height}", limits, out, given=True, chosen=size_chosen, inputs=inputs)


def _model_grid(size: str, limits: ModelLimits, out: Prepared, *, given: bool, chosen: bool, inputs: dict) -> None:
    """A model coarser than 16 px (LTX-2: 64): a chosen size off its grid is refused naming the limit and the
    nearest valid size; a size left open (or the model's own default) moves there and the change is recorded."""
    multiple = limits.resolution_multiple
    parsed = parse_resolution(size)
    if parsed is None:
        return
    width, height = parsed
    if not (width % multiple or height % multiple):
        if given:
            out.settings["resolution"] = size
        return
    near = snap_to_grid(width, height, multiple)
    if chosen:
        out.problems.append(
            Problem(
                field="resolution",
                message=f"{size} is not valid for {limits.label}: width and height must be multiples of "
                f"{multiple}; the nearest valid size is {near}",
                fix={"resolution": near},
            )
        )
        return
    what = size if given else f"{size} (the model's default)"
    out.changes.append(f"resolution {what} -> {near}: {limits.label} needs multiples of {multiple}")
    out.settings["resolution"] = near
    if given:
        if "resolution" in inputs:
            out.input_updates["resolution"] = near
        else:
            out.input_updates.update(zip(("width", "height"), (int(v) for v in near.split("x")), strict=True))


def _frames(inputs: dict[str, Any], limits: ModelLimits, out: Prepared) -> None:
    raw = inputs.get("frames")
    if raw is None:
        return
    rule = limits.frame_rule()
    try:
        frames = int(raw)
    except (TypeError, ValueError):
        out.problems.append(Problem(field="frames", message=f"'{raw}' is not a whole number", fix={"frames": 81}))
        return
    if frames < 1:
        out.problems.append(
            Problem(field="frames", message=f"{frames} frames is not a length", fix={"frames": rule.minimum})
        )
        return
    maximum = limits.frames_maximum
    windowed = isinstance(inputs.get("settings"), dict) and "sliding_window_size" in inputs["settings"]
    if maximum and frames > maximum and not windowed:
        valid = rule.floor(maximum)
        hint = "Lower frames to the limit" + (
            ", or set settings.sliding_window_size to make a longer clip in windows." if limits.sliding_window else "."
        )
        out.problems.append(
            Problem(
                field="frames",
                message=f"{frames} frames is over {limits.label}'s limit of {maximum}; the nearest valid count "
                f"is {valid}",
                hint=hint,
                fix={"frames": valid},
            )
        )
        return
    snapped = rule.snap(frames)
    if maximum and snapped > maximum and not windowed:
        snapped = rule.floor(maximum)
    if snapped != frames:
        # Off the model's grid: the job runs with the nearest valid count, recorded on the job and shown.
        out.changes.append(f"frames {frames} -> {snapped}: {limits.label} needs {rule.text} frames")
        out.input_updates["frames"] = snapped
    out.settings["video_length"] = snapped


def _steps(inputs: dict[str, Any], limits: ModelLimits, out: Prepared) -> None:
    raw = inputs.get("steps")
    if raw is None:
        return
    try:
        steps = int(raw)
    except (TypeError, ValueError):
        out.problems.append(Problem(field="steps", message=f"'{raw}' is not a whole number", fix={"steps": 30}))
        return
    low, high = limits.steps_minimum or 1, limits.steps_maximum
    if steps < low or (high is not None and steps > high):
        valid = min(max(steps, low), high) if high is not None else low
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        out.problems.append(
            Problem(
                field="steps",
                message=f"{steps} steps is outside {limits.label}'s range ({span}); the nearest valid value is {valid}",
                fix={"steps": valid},
            )
        )
        return
    out.settings["num_inference_steps"] = steps


def _extra_settings(extra: Any, defaults: dict[str, Any], out: Prepared) -> None:
    if not extra:
        return
    if not isinstance(extra, dict):
        out.problems.append(Problem(field="settings", message="extra settings must be key=value pairs"))
        return
    known = set(defaults) | EXTRA_SETTING_KEYS
    for key, value in extra.items():
        if key not in known:
            similar = difflib.get_close_matches(key, sorted(known), n=3)
            out.problems.append(
                Problem(
                    field=f"settings.{key}",
                    message=f"'{key}' is not a setting of this model"
                    + (f" (similar: {', '.join(similar)})" if similar else ""),
                )
            )
        else:
            out.settings[key] = value


MAX_SHOWN_PATH = 200  # a path quoted in a message is cut here (a hostile value must not flood the job list)
# The job inputs WanGP takes as uploaded images: (job input, WanGP media setting, `image_prompt_type` flag).
IMAGE_INPUTS = (("start_image", "image_start", "S"), ("end_image", "image_end", "E"))


def _path_kind(path: Path) -> str:
    """ "file", "folder" or "missing"; a path the system cannot even look up (too long, NUL) counts as missing."""
    try:
        return "file" if path.is_file() else "folder" if path.is_dir() else "missing"
    except (OSError, ValueError):
        return "missing"


def image_inputs(inputs: dict[str, Any], limits: ModelLimits) -> tuple[list[Problem], dict[str, str]]:
    """(problems, {job input: local file}) for the start and end images of a job, checked against the model.

    The end image is WanGP's first-last-frame mode (`image_prompt_type` "SE"): only models whose schema lists an
    end image take it, and only together with a start image. A model that does not is refused here, naming it:
    WanGP itself would drop the image without a word (flags outside the model's allowed ones do not survive).
    """
    problems: list[Problem] = []
    files: dict[str, str] = {}
    for key, _setting, _flag in IMAGE_INPUTS:
        value = inputs.get(key)
        if not value:
            continue
        which = "start" if key == "start_image" else "end"
        accepts = limits.accepts_start_image if which == "start" else limits.accepts_end_image
        kind = _path_kind(Path(str(value)))
        if kind != "file":
            shown = str(value) if len(str(value)) <= MAX_SHOWN_PATH else str(value)[:MAX_SHOWN_PATH] + "..."
            problems.append(
                Problem(
                    field=key,
                    message=f"{shown} {'is a folder, not an image file' if kind == 'folder' else 'does not exist'}",
                    hint=f"Choose an existing image file for the {which} frame.",
                )
            )
        elif not accepts:
            hint = (
                "Use an image-to-video model such as i2v_2_2."
                if which == "start"
                else "Use a first-last-frame model such as flf2v_720p or i2v_2_2, or leave the end image out."
            )
            problems.append(
                Problem(
                    field=key,
                    message=f"{limits.label} ({limits.model_type}) does not take a{'n' if which == 'end' else ''} "
                    f"{which} image",
                    hint=hint,
                )
            )
        else:
            files[key] = str(value)
    if inputs.get("end_image") and not inputs.get("start_image"):
        problems.append(
            Problem(
                field="end_image",
                message="an end image needs a start image too (WanGP's first-last-frame mode uses both)",
                hint="Set start_image as well, or send the image as start_image.",
            )
        )
    return problems, files


def image_prompt_type(uploaded: Collection[str]) -> str:
    """WanGP's `image_prompt_type` for the uploaded job inputs: "S" for a start image, "SE" with an end image."""
    return "".join(flag for key, _setting, flag in IMAGE_INPUTS if key in uploaded)


def unknown_model_problem(model: str, known: list[str]) -> Problem:
    """A model type the server does not know: name the similar ones it does (and fix to the closest)."""
    similar = difflib.get_close_matches(model, known, n=3, cutoff=0.4) or [
        m for m in ("t2v", "t2v_2_2", "i2v_2_2", "ltx2_22B_distilled") if m in known
    ]
    listing = f"similar: {', '.join(similar)}" if similar else "see the model list in WanGP"
    return Problem(
        field="model",
        message=f"'{model}' is not a model type this WanGP server knows ({listing}; "
        f"{len(known)} video models available)",
        hint="Pick one of the listed model types.",
        fix={"model": similar[0]} if similar else None,
    )


def help_text() -> str:
    """The WanGP settings, per model family, for `generate --help`."""
    lines = ["WanGP settings (--set KEY=VALUE):"]
    lines += [f"  {key:<17} {text}" for key, text in JOB_SETTINGS.items()]
    lines.append("  any other KEY    a raw WanGP setting, e.g. guidance_scale=5, flow_shift=3, sample_solver=unipc")
    lines.append("Per model family:")
    lines += [f"  {family}: {text}" for family, text in FAMILY_SETTINGS.items()]
    return "\n".join(lines)
