"""The public workflows API (re-exported lazily by `workflows/__init__.py`; see its docstring)."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from .importing import UI_FORMAT_HINT, check_api_format, is_ui_format, load_workflow_file, structural_problems
from .preflight_checks import MODEL_INPUTS, PreflightCache, model_references, preflight, preflight_error, preflight_live
from .presets import load_wan2gp_presets, wan2gp_preset
from .registry import BUNDLED_DIR, TemplateInfo, get_template, list_templates
from .template import UPLOAD_META_KEY, ParamSpec, Template, TemplateParamError, load_template

log = logging.getLogger(__name__)

__all__ = [
    "BUNDLED_DIR",
    "DEFAULT_TEMPLATES",
    "MODEL_INPUTS",
    "UI_FORMAT_HINT",
    "ImageUpload",
    "ParamSpec",
    "PreflightCache",
    "Template",
    "TemplateInfo",
    "TemplateParamError",
    "apply_uploaded_names",
    "check_api_format",
    "default_template_name",
    "get_template",
    "image_uploads",
    "is_ui_format",
    "list_templates",
    "load_template",
    "load_wan2gp_presets",
    "load_workflow_file",
    "model_references",
    "preflight",
    "preflight_error",
    "preflight_live",
    "resolve_workflow",
    "structural_problems",
    "wan2gp_preset",
]

DEFAULT_TEMPLATES: dict[str, str] = {
    "image": "sd15_txt2img",
    "keyframe": "sd15_txt2img",
    "img2img": "sd15_img2img",
    "character_image": "flux_kontext_character",
    "upscale": "upscale_model",
    "video": "wan21_t2v",
    "final_video": "wan21_t2v",
    "quick_preview": "wan21_t2v",
}
IMAGE_TO_VIDEO_TEMPLATE = "wan21_i2v"
VIDEO_TASKS = frozenset({"video", "final_video", "quick_preview"})
_IMAGE_KEYS = ("image", "start_image", "reference_image", "init_image")
_ALIASES = {"negative": "negative_prompt", "denoise": "strength"}


@dataclass(frozen=True)
class ImageUpload:
    """A local file the client must upload before sending the workflow, and the input that names it."""

    input: str
    local_path: str


def _start_image(params: dict[str, Any]) -> str | None:
    for key in _IMAGE_KEYS:
        if params.get(key):
            return str(params[key])
    images = params.get("images")
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], str):
        return images[0]
    return None


def default_template_name(task: str, params: dict[str, Any]) -> str:
    """The bundled template for a task (video tasks switch to image-to-video when a start image is given)."""
    if task in VIDEO_TASKS and _start_image(params):
        return IMAGE_TO_VIDEO_TEMPLATE
    try:
        return DEFAULT_TEMPLATES[task]
    except KeyError:
        from ..runtime.errors import RejectedInput

        raise RejectedInput(
            f'ComfyUI has no default workflow for the task "{task}".',
            "Choose a workflow template, or a task ComfyUI handles: " + ", ".join(sorted(DEFAULT_TEMPLATES)) + ".",
        ) from None


def resolve_workflow(task: str, template: str | None, params: dict[str, Any], settings: Any = None) -> dict[str, Any]:
    """The API-format workflow for a job: pick the template, keep the keys it declares, customise it."""
    tpl = get_template(template or default_template_name(task, params), settings)
    declared = set(tpl.params) | set(tpl.aliases)
    chosen: dict[str, Any] = {k: v for k, v in params.items() if k in declared and v is not None}
    if "image" in tpl.params and "image" not in chosen and (image := _start_image(params)):
        chosen["image"] = image
    for job_key, param in _ALIASES.items():
        if param in tpl.params and param not in chosen and params.get(job_key) is not None:
            chosen[param] = params[job_key]
    ignored = sorted(set(params) - set(chosen) - set(_ALIASES) - set(_IMAGE_KEYS) - {"images"})
    if ignored:
        log.debug("template %s ignores job inputs %s", tpl.name, ", ".join(ignored))
    return tpl.customize(**chosen)


def image_uploads(workflow: dict[str, Any]) -> dict[str, ImageUpload]:
    """`{node_id: ImageUpload}` for every node whose image input holds a local file still to upload."""
    out = {}
    for node_id, node in workflow.items():
        marker = (node.get("_meta") or {}).get(UPLOAD_META_KEY)
        if isinstance(marker, dict):
            out[node_id] = ImageUpload(input=str(marker["input"]), local_path=str(marker["path"]))
    return out


def apply_uploaded_names(workflow: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A copy of `workflow` with the server-returned upload names written in and GenBridge's markers removed."""
    out = copy.deepcopy(workflow)
    for node_id, node in out.items():
        meta = node.get("_meta") or {}
        marker = meta.pop(UPLOAD_META_KEY, None)
        if isinstance(marker, dict) and node_id in names:
            node["inputs"][marker["input"]] = names[node_id]
    return out
