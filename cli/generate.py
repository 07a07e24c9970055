"""`python -m genbridge generate`: run one generation headless and print the output paths.

ComfyUI: `--service comfyui --workflow flow.json --set prompt="a cat" [--set 6.text="..."] [--url URL] [--output DIR]`.
Wan2GP: `--service wan2gp --model t2v --prompt "..."`, handled by `cli/generate_wan2gp.py`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from ..runtime.errors import ConfigError, RejectedInput


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("generate", help="run one generation headless and print the output paths")
    p.add_argument("--service", required=True, choices=["comfyui", "wan2gp"])
    p.add_argument("--workflow", help="ComfyUI API-format workflow JSON (or a template with a sidecar)")
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
    # Wan2GP options (read by cli/generate_wan2gp.py)
    p.add_argument("--model", help="Wan2GP model (t2v, i2v, ...)")
    p.add_argument("--prompt", help="text prompt (Wan2GP)")


def run(args: argparse.Namespace) -> int:
    if args.service == "wan2gp":
        try:
            module = importlib.import_module(".generate_wan2gp", __package__)
        except ImportError:
            print(
                "error: Wan2GP generation is not available in this build (cli/generate_wan2gp.py is missing).",
                file=sys.stderr,
            )
            return 2
        return int(module.run_wan2gp(args))
    return run_comfyui(args)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE.", 'Write it like --set prompt="a red fox".')
        out[key.strip()] = _parse_value(value)
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


def build_workflow(path: str, params: dict[str, Any]) -> dict[str, Any]:
    """The API-format workflow to send: through the workflows package's template if it has one, else direct edits."""
    named = {k: v for k, v in params.items() if "." not in k}
    direct = {k: v for k, v in params.items() if "." in k}
    workflow: dict[str, Any] | None = None
    try:
        from ..workflows.template import load_template
    except ImportError:
        load_template = None  # type: ignore[assignment]
    if load_template is not None and named:
        workflow = load_template(path).customize(**named)
    elif named:
        raise RejectedInput(
            f"--set {', '.join(named)}: named parameters need a workflow template.",
            "Use <node id or title>.<input>=<value> instead.",
        )
    if workflow is None:
        try:
            workflow = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Could not read the workflow {path}: {exc}.") from None
    if not isinstance(workflow, dict) or not all(isinstance(n, dict) and "class_type" in n for n in workflow.values()):
        raise RejectedInput(
            f"{path} is not an API-format ComfyUI workflow.",
            "In ComfyUI use Workflow > Export (API) and pass that file.",
        )
    return _apply_node_sets(workflow, direct)


def run_comfyui(args: argparse.Namespace) -> int:
    from ._headless import load_settings, print_progress, run_jobs, with_url

    if not args.workflow:
        raise ConfigError("--service comfyui needs --workflow <file>.", "Export it from ComfyUI with 'Export (API)'.")
    workflow = build_workflow(args.workflow, _parse_sets(args.sets))
    settings = with_url(load_settings(args, output_dir=args.output), "comfyui", args.url)
    spec = {"task": "image", "service": "comfyui", "inputs": {"workflow": workflow}}
    [final] = run_jobs([spec], settings, print_progress, timeout=args.timeout)
    if final.get("state") != "done":
        err = final.get("error") or {}
        print(f"error: {err.get('message', final.get('state'))}\n  {err.get('hint', '')}", file=sys.stderr)
        return 1
    for path in final.get("outputs") or []:
        print(path)
    return 0
