"""A ComfyUI job's inputs turned into the API-format graph to send, and the local images it needs uploaded.

Loop thread (pure, no network): the ComfyUI client only speaks the protocol. It calls `prepare_graph` once per
job, uploads every `image_uploads(graph)` file, writes the server's names back with `apply_uploaded_names`, and
lets `adapt_to_server` fit the graph to the server's node schemas (ComfyUI 0.38's dynamic SaveVideo inputs).

Where local images come from (all end as the same upload marker, so all are uploaded the same way):
- a template's image parameter (`image=<path>`, from the API, `generate --set/--input`, Blender, the storyboard);
- `inputs["images"]`: `{template parameter or LoadImage node id/title: path}`, or a list (first = start image);
- a raw workflow whose LoadImage `image` input names an existing local file (`--set 10.image=photo.png`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime.errors import RejectedInput
from .template import UPLOAD_META_KEY

if TYPE_CHECKING:
    from ..runtime.backend import Problem
    from ..runtime.jobs import Job

LOAD_IMAGE_PREFIX = "LoadImage"  # LoadImage, LoadImageMask, LoadImageOutput
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"


def job_problems(job: Job) -> list[Problem]:
    """What every ComfyUI-family client checks before sending, without asking the server: a workflow or template
    is given, and every local image exists."""
    from ..runtime.backend import Problem  # pydantic: loaded with the client, not with this module

    problems = []
    if not isinstance(job.inputs.get("workflow"), dict) and not job.template and not job.task:
        problems.append(
            Problem(
                field="workflow",
                message="No ComfyUI workflow or template was given",
                hint="Pick a template or load an API-format workflow.",
            )
        )
    images = job.inputs.get("images")
    for key, path in images.items() if isinstance(images, dict) else ():
        if not Path(str(path)).expanduser().is_file():
            problems.append(
                Problem(
                    field=f"images.{key}",
                    message=f"The image {path} does not exist",
                    hint="Pick an existing image file.",
                )
            )
    return problems


def prepare_graph(task: str, template: str | None, inputs: dict[str, Any], settings: Any = None) -> dict[str, Any]:
    """The graph for a job: a given workflow (with its images marked) or the template's, customised."""
    images = inputs.get("images")
    workflow = inputs.get("workflow")
    if isinstance(workflow, dict):
        graph = _copy_graph(workflow)
        if isinstance(images, dict):
            for key, path in images.items():
                _mark_node_image(graph, str(key), str(path))
        _mark_local_paths(graph)
        return graph
    from .api import resolve_workflow

    params = {k: v for k, v in inputs.items() if k not in ("images", "workflow")}
    if isinstance(images, dict):
        for key, path in images.items():
            params.setdefault(str(key), path)
    elif images:
        params["images"] = images
    return resolve_workflow(task, template, params, settings)


def _copy_graph(workflow: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough to edit: nodes, their inputs and `_meta` are new dicts; link lists stay shared (never
    edited). A deepcopy of every value costs more than the rest of a job's client work."""
    out: dict[str, Any] = {}
    for nid, node in workflow.items():
        if not isinstance(node, dict):
            out[nid] = copy.deepcopy(node)
            continue
        new = dict(node)
        if isinstance(node.get("inputs"), dict):
            new["inputs"] = dict(node["inputs"])
        if isinstance(node.get("_meta"), dict):
            new["_meta"] = dict(node["_meta"])
        out[nid] = new
    return out


def _mark_node_image(graph: dict[str, Any], key: str, path: str) -> None:
    targets = [nid for nid, node in graph.items() if nid == key or (node.get("_meta") or {}).get("title") == key]
    if not targets:
        raise RejectedInput(
            f"The workflow has no LoadImage node '{key}' for the input image.",
            "Use the LoadImage node's id or title as the image key.",
            service="comfyui",
        )
    if not Path(path).expanduser().is_file():
        raise RejectedInput(f"The input image {path} does not exist.", "Pick an existing image file.")
    for nid in targets:
        node = graph[nid]
        node.setdefault("inputs", {})["image"] = Path(path).name
        node.setdefault("_meta", {})[UPLOAD_META_KEY] = {"input": "image", "path": str(Path(path).expanduser())}


def _mark_local_paths(graph: dict[str, Any]) -> None:
    """A LoadImage whose `image` names a file on this computer (not yet marked) gets that file uploaded."""
    for node in graph.values():
        if not isinstance(node, dict) or not str(node.get("class_type", "")).startswith(LOAD_IMAGE_PREFIX):
            continue
        meta = node.get("_meta") or {}
        value = (node.get("inputs") or {}).get("image")
        if UPLOAD_META_KEY in meta or not isinstance(value, str) or not value.strip():
            continue
        local = Path(value).expanduser()
        if local.is_file():
            node["inputs"]["image"] = local.name
            node.setdefault("_meta", {})[UPLOAD_META_KEY] = {"input": "image", "path": str(local)}


def adapt_to_server(graph: dict[str, Any], object_info: dict[str, Any]) -> dict[str, Any]:
    """Fit version-dependent inputs to the server's schemas (in place; returns `graph`).

    ComfyUI 0.38 made some combos dynamic (V3 `COMFY_DYNAMICCOMBO_V3`): the chosen option brings its own
    sub-inputs, sent as `"<input>.<sub>"`, and required ones must be present. SaveVideo is the one that matters:
    `format` became dynamic with the codec under `format.codec` (and its `crf` below that), while 0.3.x servers
    take a flat `codec`. A sub-input missing from the graph takes the flat value of the same name (the template's
    `codec`), else the schema's default. The flat values stay: 0.38 still accepts them as hidden legacy inputs.
    """
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        schema = object_info.get(str(node.get("class_type", ""))) if isinstance(object_info, dict) else None
        required = ((schema or {}).get("input") or {}).get("required") if isinstance(schema, dict) else None
        if not isinstance(required, dict):
            continue
        inputs = node.setdefault("inputs", {})
        for name, spec in required.items():
            if _is_dynamic_combo(spec) and name in inputs:
                _fill_dynamic(inputs, name, spec)
    return graph


def _is_dynamic_combo(spec: Any) -> bool:
    return isinstance(spec, list) and len(spec) > 1 and spec[0] == DYNAMIC_COMBO and isinstance(spec[1], dict)


def _fill_dynamic(inputs: dict[str, Any], name: str, spec: list[Any]) -> None:
    chosen = inputs.get(name)
    option = next((o for o in spec[1].get("options") or [] if isinstance(o, dict) and o.get("key") == chosen), None)
    subs = ((option or {}).get("inputs") or {}).get("required") or {}
    for sub, sub_spec in subs.items() if isinstance(subs, dict) else ():
        dotted = f"{name}.{sub}"
        if dotted not in inputs:
            default = sub_spec[1].get("default") if isinstance(sub_spec, list) and len(sub_spec) > 1 else None
            if isinstance(default, dict):
                default = None
            if sub in inputs:
                inputs[dotted] = inputs[sub]
            elif default is not None:
                inputs[dotted] = default
            elif _is_dynamic_combo(sub_spec):
                first = next(iter(sub_spec[1].get("options") or []), None)
                inputs[dotted] = first.get("key") if isinstance(first, dict) else first
        if _is_dynamic_combo(sub_spec) and dotted in inputs:
            _fill_dynamic(inputs, dotted, sub_spec)
