"""Reading workflow files: recognise ComfyUI's UI format (and say how to export the API format) and find
structural faults (dangling links, missing inputs) before anything is sent.

API format is `{node_id: {"class_type": str, "inputs": {...}, "_meta": {"title": str}}}`; an input that is a
two-item list `[node_id, output_index]` is a link to another node's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..runtime.backend import Problem
from ..runtime.errors import RejectedInput
from .schema import NodeSchema

MAX_WORKFLOW_BYTES = 64 * 1024 * 1024

UI_FORMAT_HINT = (
    "In ComfyUI open the workflow and choose Workflow > Export (API) (older frontends: turn on "
    "Settings > Dev mode, then use Save (API Format)), and use the exported file."
)


def is_ui_format(data: Any) -> bool:
    """ComfyUI's editor format: a graph with `nodes` and `links` lists instead of a dict of node ids."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def is_link(value: Any) -> bool:
    """A link input: `[source_node_id, output_index]`."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def node_label(node_id: str, node: dict[str, Any]) -> str:
    """How a node is named in messages: `node 3 (KSampler)` or `node 3 "Positive" (CLIPTextEncode)`."""
    title = (node.get("_meta") or {}).get("title")
    cls = node.get("class_type", "?")
    if title and title != cls:
        return f'node {node_id} "{title}" ({cls})'
    return f"node {node_id} ({cls})"


def check_api_format(data: Any, source: str = "the workflow") -> dict[str, Any]:
    """Return `data` as an API-format workflow or raise RejectedInput saying what is wrong with it."""
    if is_ui_format(data):
        raise RejectedInput(
            f"{source} is saved in ComfyUI's UI format, not the API format GenBridge needs.", UI_FORMAT_HINT
        )
    if not isinstance(data, dict) or not data:
        raise RejectedInput(f"{source} is not a ComfyUI workflow (expected a JSON object of nodes).", UI_FORMAT_HINT)
    bad = [str(k) for k, v in data.items() if not isinstance(v, dict) or not isinstance(v.get("class_type"), str)]
    if bad:
        raise RejectedInput(
            f"{source} has nodes without a class_type: {', '.join(bad)}.",
            "Export the workflow again with Workflow > Export (API).",
        )
    # Every later step reads node["inputs"] and node["_meta"] as objects: a list or a number there is a broken
    # file, said here once instead of failing somewhere deep inside.
    for key, node in data.items():
        for part in ("inputs", "_meta"):
            value = node.get(part)
            if value is not None and not isinstance(value, dict):
                raise RejectedInput(
                    f'{source}: node {key} ({node["class_type"]}) has "{part}" as a {_json_kind(value)}, '
                    "not an object of names and values.",
                    "Export the workflow again with Workflow > Export (API).",
                )
    return {str(k): v for k, v in data.items()}


def _json_kind(value: Any) -> str:
    return {list: "list", str: "text", bool: "true/false", int: "number", float: "number"}.get(type(value), "value")


def load_workflow_file(path: str | Path) -> dict[str, Any]:
    """Read and check an API-format workflow JSON file."""
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else 0
        if size > MAX_WORKFLOW_BYTES:
            # Usually the wrong file picked (a model, a video): never read gigabytes into memory to find out.
            raise RejectedInput(
                f"The workflow file {path} is {size / 2**20:.0f} MB; workflows are JSON files of a few KB to a few MB.",
                "Pick the workflow exported with Workflow > Export (API), not a model or media file.",
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RejectedInput(f"The workflow file {path} does not exist.", "Check the path.") from None
    except IsADirectoryError:
        raise RejectedInput(f"The workflow {path} is a folder, not a file.", "Name its .json file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RejectedInput(f"The workflow file {path} is not valid JSON: {exc}.", "Fix or re-export it.") from None
    except RecursionError:
        raise RejectedInput(
            f"The workflow file {path} is nested too deeply to read.", "It is damaged: re-export it from ComfyUI."
        ) from None
    return check_api_format(data, source=f"The workflow {path.name}")


def structural_problems(workflow: dict[str, Any], schemas: dict[str, NodeSchema] | None = None) -> list[Problem]:
    """Dangling links, and (when the node schemas are known) missing required inputs and bad output slots."""
    problems: list[Problem] = []
    for node_id, node in workflow.items():
        label = node_label(node_id, node)
        inputs = node.get("inputs") or {}
        schema = (schemas or {}).get(node.get("class_type", ""))
        for name, value in inputs.items():
            if not is_link(value):
                continue
            source_id = str(value[0])
            if source_id not in workflow:
                problems.append(
                    Problem(
                        field=f"{node_id}.{name}",
                        message=f'{label}: input "{name}" links to node {source_id}, which is not in the workflow.',
                        hint="Re-export the workflow from ComfyUI, or connect the input to an existing node.",
                    )
                )
                continue
            source_schema = (schemas or {}).get(workflow[source_id].get("class_type", ""))
            if source_schema is not None and not 0 <= value[1] < len(source_schema.outputs):
                problems.append(
                    Problem(
                        field=f"{node_id}.{name}",
                        message=f'{label}: input "{name}" uses output {value[1]} of node {source_id}, '
                        f"which has only {len(source_schema.outputs)} outputs.",
                        hint="Re-export the workflow from ComfyUI.",
                    )
                )
        if schema is not None:
            for name in schema.required_inputs:
                if name not in inputs:
                    problems.append(
                        Problem(
                            field=f"{node_id}.{name}",
                            message=f'{label} is missing the required input "{name}".',
                            hint="Set the input in ComfyUI and export the workflow again.",
                        )
                    )
    return problems
