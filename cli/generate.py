"""`python -m genbridge generate`: run one generation headless and print the output paths.

ComfyUI: `--service comfyui --workflow flow.json|<template name> --set prompt="a cat" [--set 6.text="..."]
[--input image=photo.png] [--url URL] [--output DIR]`. Input images are local files: GenBridge uploads them and
sends the name ComfyUI gives back. `--input NAME=PATH` names a template's image parameter (`image`) or, for a plain
workflow, a LoadImage node's id or title; `--set image=photo.png` works the same for a template parameter.
Ctrl-C cancels the job on the server (waiting a few seconds for it to confirm), then exits with 130.
WanGP: `--service wan2gp --model t2v --prompt "..."`, handled by `cli/generate_wan2gp.py`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from ..runtime.errors import ConfigError, RejectedInput


def _wan2gp_help() -> str | None:
    """The WanGP settings per model family (from cli/generate_wan2gp.py), when that part is in this build."""
    try:
        module = importlib.import_module(".generate_wan2gp", __package__)
    except ImportError:
        return None
    return str(module.help_epilog())


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "generate",
        help="run one generation headless and print the output paths",
        epilog=_wan2gp_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--service", required=True, choices=["comfyui", "wan2gp"])
    p.add_argument(
        "--workflow", help="ComfyUI API-format workflow JSON (or a template: a JSON with a sidecar, or a template name)"
    )
    p.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an input image to upload: a template's image parameter (image=photo.png) or, for a plain workflow, "
        "<LoadImage node id or title>=photo.png, or a Blender capture: image=render:scene.blend:Camera[:preview|depth|"
        "normal|mist|mask]; repeatable",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter, or <node id or title>.<input>=<value>; repeatable",
    )
    p.add_argument("--url", help="service URL (overrides settings)")
    p.add_argument("--output", help="output folder (overrides settings)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    # WanGP options (read by cli/generate_wan2gp.py)
    p.add_argument("--model", help="WanGP model (t2v, i2v, ...)")
    p.add_argument("--prompt", help="text prompt (WanGP)")


def run(args: argparse.Namespace) -> int:
    if args.service == "wan2gp":
        try:
            module = importlib.import_module(".generate_wan2gp", __package__)
        except ImportError:
            print(
                "error: WanGP generation is not available in this build (cli/generate_wan2gp.py is missing).",
                file=sys.stderr,
            )
            return 2
        _capture_wan2gp_inputs(args)
        return int(module.run_wan2gp(args))
    return run_comfyui(args)


def _capture_wan2gp_inputs(args: argparse.Namespace) -> None:
    """`--input start_image=render:...` for WanGP: Blender renders it into the job's folder; the file becomes the
    start image (`--set start_image=`) and the provenance rides on `args.job_extra` into the job spec."""
    images = _parse_sets(getattr(args, "inputs", []) or [], option="--input", raw=True)
    if not any(str(v).startswith("render:") for v in images.values()):
        return
    from ._headless import load_settings
    from .scene_inputs import new_job_id, resolve_render_inputs

    sets = _parse_sets(args.sets or [])
    width, height = sets.get("width"), sets.get("height")
    if isinstance(sets.get("resolution"), str) and "x" in sets["resolution"]:
        width, height = (int(v) for v in sets["resolution"].split("x", 1))
    settings = load_settings(args, output_dir=getattr(args, "output", None))
    job_id = new_job_id()
    folder = settings.output_path / f"video-{job_id}"
    images, captures = resolve_render_inputs(images, folder, size=(width, height), timeout=args.timeout)
    args.sets = [*(args.sets or []), *(f"{k}={v}" for k, v in images.items())]
    args.job_extra = {"id": job_id, "captures": captures}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
    except RecursionError:
        raise ConfigError(
            f"A --set value is nested too deeply to read ({len(text)} characters).", "Give a plain value."
        ) from None


def _parse_sets(sets: list[str], *, option: str = "--set", raw: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            example = "--input image=photo.png" if option == "--input" else '--set prompt="a red fox"'
            raise ConfigError(f"{option} {item!r} is not KEY=VALUE.", f"Write it like {example}.")
        out[key.strip()] = value if raw else _parse_value(value)
    return out


def _apply_node_sets(workflow: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`<node id or title>.<input>=<value>` straight into an API-format workflow."""
    for key, value in params.items():
        node_ref, dot, input_name = key.rpartition(".")
        if not dot:
            raise RejectedInput(
                f"--set {key}: this workflow has no named parameters.",
                'Use <node id or title>.<input>=<value>, e.g. --set 6.text="a cat".',
            )
        nodes = [
            nid for nid, n in workflow.items() if nid == node_ref or (n.get("_meta") or {}).get("title") == node_ref
        ]
        if not nodes:
            raise RejectedInput(f"--set {key}: the workflow has no node with id or title '{node_ref}'.")
        for nid in nodes:
            workflow[nid].setdefault("inputs", {})[input_name] = value
    return workflow


def _load_template(ref: str, settings: Any) -> Any:
    """A template from a JSON path or, when `ref` is not a file, by name (bundled and user template folders)."""
    from ..workflows.registry import get_template

    return get_template(ref, settings)


def build_workflow(path: str, params: dict[str, Any], settings: Any = None) -> dict[str, Any]:
    """The API-format workflow to send: through the workflows package's template if it has one, else direct edits.

    Image parameters keep their local path in GenBridge's upload marker; the client uploads them before sending.
    """
    named = {k: v for k, v in params.items() if "." not in k}
    direct = {k: v for k, v in params.items() if "." in k}
    workflow: dict[str, Any] | None = None
    is_file = Path(path).expanduser().is_file()
    if Path(path).expanduser().is_dir():
        raise RejectedInput(
            f"The workflow {path} is a folder, not a file.",
            "Name its .json file, or a template by name (python -m genbridge templates list).",
        )
    if named or not is_file:
        workflow = _load_template(path, settings).customize(**named)
    if workflow is None:
        from ..workflows.importing import load_workflow_file

        # Every check a workflow file gets (JSON, nesting, node shapes) lives there, so --set never meets a
        # node whose inputs are a list.
        workflow = load_workflow_file(Path(path).expanduser())
    return _apply_node_sets(workflow, direct)


def _image_params(path: str, settings: Any) -> set[str]:
    """The template's image parameters (empty for a plain workflow, which takes images by LoadImage node)."""
    try:
        template = _load_template(path, settings)
    except RejectedInput:
        return set()
    return {name for name, spec in template.params.items() if spec.type == "image"}


def _job_size(path: str, params: dict[str, Any], settings: Any) -> tuple[int | None, int | None]:
    """The job's width and height for a capture: --set values, else the template's defaults, else None (the
    .blend's own render size)."""
    try:
        template_params = _load_template(path, settings).params
    except RejectedInput:
        template_params = {}
    size = []
    for key in ("width", "height"):
        value = params.get(key, template_params[key].default if key in template_params else None)
        size.append(int(value) if isinstance(value, (int, float)) and value > 0 else None)
    return size[0], size[1]


def run_comfyui(args: argparse.Namespace) -> int:
    from ._headless import load_settings, print_progress, run_jobs, with_url

    if not args.workflow:
        raise ConfigError("--service comfyui needs --workflow <file>.", "Export it from ComfyUI with 'Export (API)'.")
    settings = with_url(load_settings(args, output_dir=args.output), "comfyui", args.url)
    params = _parse_sets(args.sets)
    images = _parse_sets(getattr(args, "inputs", []) or [], option="--input", raw=True)
    extra: dict[str, Any] = {}
    if any(str(v).startswith("render:") for v in images.values()):  # Blender renders them first (scene_inputs)
        from .scene_inputs import new_job_id, resolve_render_inputs

        extra["id"] = new_job_id()
        size = _job_size(args.workflow, params, settings)
        folder = settings.output_path / f"image-{extra['id']}"
        images, extra["captures"] = resolve_render_inputs(images, folder, size=size, timeout=args.timeout)
    template_images = _image_params(args.workflow, settings) if images else set()
    params.update({k: v for k, v in images.items() if k in template_images})
    workflow = build_workflow(args.workflow, params, settings)
    inputs: dict[str, Any] = {"workflow": workflow}
    by_node = {k: v for k, v in images.items() if k not in template_images}
    if by_node:
        inputs["images"] = by_node
    spec = {"task": "image", "service": "comfyui", "inputs": inputs, **extra}
    [final] = run_jobs([spec], settings, print_progress, timeout=args.timeout)
    if final.get("state") != "done":
        err = final.get("error") or {}
        print(f"error: {err.get('message', final.get('state'))}\n  {err.get('hint', '')}", file=sys.stderr)
        return 1
    for path in final.get("outputs") or []:
        print(path)
    return 0
