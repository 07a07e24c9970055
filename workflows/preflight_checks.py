"""Pre-flight: will this workflow run on that server? Checked before anything is sent.

`preflight(workflow, object_info, models)` is pure: it takes the server's `/object_info` dict and its model
lists (`{folder: [file, ...]}` as from `GET /models/<folder>`) and returns every problem at once: node classes
the server lacks (custom nodes to install), model files it does not have, dangling links, missing inputs and
values that do not fit the node schema. `preflight_error(problems)` folds them into ONE error message.

`preflight_live` fetches that data with aiohttp through a `PreflightCache` (one per client): the data is
reused until the server looks restarted (its `/system_stats` fingerprint or `/object_info` hash changed) or
`max_age` passed, and a missing node or model found with cached data is re-checked against fresh data before
it is reported (the user may just have installed it).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..runtime.backend import Problem
from ..runtime.errors import GenBridgeError, IncompatibleServer, RejectedInput
from .importing import is_link, node_label, structural_problems
from .schema import InputSpec, NodeSchema, parse_object_info

# Which model folder a loader input names (ComfyUI's folder_paths names, as listed by GET /models).
MODEL_INPUTS: dict[tuple[str, str], str] = {
    **{
        (cls, "ckpt_name"): "checkpoints"
        for cls in ("CheckpointLoaderSimple", "CheckpointLoader", "ImageOnlyCheckpointLoader", "unCLIPCheckpointLoader")
    },
    ("VAELoader", "vae_name"): "vae",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    **{("TripleCLIPLoader", f"clip_name{i}"): "text_encoders" for i in (1, 2, 3)},
    **{("QuadrupleCLIPLoader", f"clip_name{i}"): "text_encoders" for i in (1, 2, 3, 4)},
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("DiffControlNetLoader", "control_net_name"): "controlnet",
    ("StyleModelLoader", "style_model_name"): "style_models",
    ("GLIGENLoader", "gligen_name"): "gligen",
    ("HypernetworkLoader", "hypernetwork_name"): "hypernetworks",
    ("PhotoMakerLoader", "photomaker_model_name"): "photomaker",
    ("ModelPatchLoader", "name"): "model_patches",
}

MISSING_NODE = "missing_node"
MISSING_MODEL = "missing_model"


@dataclass(frozen=True)
class ModelRef:
    """A model file a workflow names: node, input, folder and file name."""

    node_id: str
    input: str
    folder: str
    filename: str


def model_references(workflow: dict[str, Any]) -> list[ModelRef]:
    """Every model file the workflow's loader nodes name."""
    refs = []
    for node_id, node in workflow.items():
        for input_name, value in (node.get("inputs") or {}).items():
            folder = MODEL_INPUTS.get((node.get("class_type", ""), input_name))
            if folder and isinstance(value, str):
                refs.append(ModelRef(node_id, input_name, folder, value))
    return refs


def _norm(name: str) -> str:
    return name.replace("\\", "/")  # Windows servers list sub-folder models with backslashes


def preflight(
    workflow: dict[str, Any],
    object_info: dict[str, Any] | dict[str, NodeSchema],
    models: dict[str, list[str]] | None = None,
) -> list[Problem]:
    """Every reason `workflow` would fail on a server with these node schemas and model files."""
    schemas = _schemas(object_info)
    problems: list[Problem] = []
    for node_id, node in workflow.items():
        cls = node.get("class_type", "")
        if cls not in schemas:
            problems.append(
                Problem(
                    field=f"{node_id}.class_type",
                    message=f'{node_label(node_id, node)}: the server has no node type "{cls}".',
                    hint=f"Install the custom node that provides {cls} (ComfyUI-Manager can), then restart.",
                    fix={"kind": MISSING_NODE, "class_type": cls},
                )
            )
    problems += structural_problems(workflow, schemas)
    problems += _model_problems(workflow, schemas, models or {})
    model_inputs = {(r.node_id, r.input) for r in model_references(workflow)}
    for node_id, node in workflow.items():
        schema = schemas.get(node.get("class_type", ""))
        if schema is None:
            continue
        for input_name, value in (node.get("inputs") or {}).items():
            spec = schema.inputs.get(input_name)
            if spec is None or (node_id, input_name) in model_inputs:
                continue  # unknown inputs are ignored by ComfyUI; models were checked above
            message = _link_problem(workflow, schemas, value, spec) if is_link(value) else _value_problem(value, spec)
            if message:
                problems.append(
                    Problem(
                        field=f"{node_id}.{input_name}",
                        message=f'{node_label(node_id, node)}: input "{input_name}" {message}.',
                    )
                )
    if (
        schemas
        and not any(schemas[n["class_type"]].output_node for n in workflow.values() if n.get("class_type") in schemas)
        and all(n.get("class_type") in schemas for n in workflow.values())
    ):
        problems.append(
            Problem(
                field="workflow",
                message="there is no output node (such as Save Image or Save Video).",
                hint="Add a Save Image or Save Video node.",
            )
        )
    return problems


def _schemas(object_info: dict[str, Any]) -> dict[str, NodeSchema]:
    if object_info and all(isinstance(v, NodeSchema) for v in object_info.values()):
        return dict(object_info)
    return parse_object_info(object_info)


def _model_problems(
    workflow: dict[str, Any], schemas: dict[str, NodeSchema], models: dict[str, list[str]]
) -> list[Problem]:
    problems = []
    for ref in model_references(workflow):
        node = workflow[ref.node_id]
        schema = schemas.get(node.get("class_type", ""))
        spec = schema.inputs.get(ref.input) if schema else None
        known: set[str] = {_norm(m) for m in models.get(ref.folder, [])}
        if spec is not None and spec.options:
            known |= {_norm(str(o)) for o in spec.options}  # VAELoader also offers built-ins like "taesd"
        if ref.folder not in models and (spec is None or spec.options is None):
            continue  # nothing to compare with
        if _norm(ref.filename) not in known:
            problems.append(
                Problem(
                    field=f"{ref.node_id}.{ref.input}",
                    message=f'{node_label(ref.node_id, node)}: the model "{ref.filename}" is not in the server\'s '
                    f"{ref.folder} folder.",
                    hint=f"Put {ref.filename} into ComfyUI/models/{ref.folder} (then refresh), or pick another model.",
                    fix={"kind": MISSING_MODEL, "folder": ref.folder, "filename": ref.filename},
                )
            )
    return problems


def _link_problem(workflow: dict[str, Any], schemas: dict[str, NodeSchema], value: list[Any], spec: InputSpec) -> str:
    source = workflow.get(str(value[0]))
    source_schema = schemas.get(source.get("class_type", "")) if source else None
    if source_schema is None or not 0 <= value[1] < len(source_schema.outputs):
        return ""  # dangling links and bad slots are reported by structural_problems
    produced = source_schema.outputs[value[1]]
    accepted = {t.strip() for t in spec.type.split(",")}
    if "*" in accepted or produced == "*" or produced in accepted or (spec.type == "COMBO" and produced == "COMBO"):
        return ""
    return f"expects {spec.type} but is linked to a {produced} output of node {value[0]}"


def _value_problem(value: Any, spec: InputSpec) -> str:
    kind = spec.type
    if kind in ("INT", "FLOAT"):
        number = value
        if isinstance(value, str):  # ComfyUI coerces numeric strings
            try:
                number = float(value) if kind == "FLOAT" else int(value)
            except ValueError:
                return f"expects a {'whole ' if kind == 'INT' else ''}number, got {value!r}"
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return f"expects a number, got {value!r}"
        if kind == "INT" and isinstance(number, float) and not number.is_integer():
            return f"expects a whole number, got {value!r}"
        if spec.min is not None and number < spec.min:
            return f"is {value}, below the minimum {spec.min:g}"
        if spec.max is not None and number > spec.max:
            return f"is {value}, above the maximum {spec.max:g}"
        return ""
    if kind == "BOOLEAN":
        return "" if isinstance(value, bool) else f"expects true or false, got {value!r}"
    if kind == "STRING":
        return "" if isinstance(value, str) else f"expects text, got {value!r}"
    if kind == "COMBO":
        if spec.upload or spec.options is None or spec.multiselect:
            return ""  # upload inputs list the server's files; the client uploads ours first
        if value not in spec.options:
            shown = ", ".join(repr(o) for o in spec.options[:20]) + (", ..." if len(spec.options) > 20 else "")
            return f"is {value!r}, which is not one of {shown}"
        return ""
    if spec.is_link_type:
        return f"must be connected to a {kind} output, got the value {value!r}"
    return ""


def preflight_error(problems: list[Problem], *, server: str = "the server") -> GenBridgeError | None:
    """All problems as ONE error: IncompatibleServer if nodes or models are missing, else RejectedInput."""
    if not problems:
        return None
    nodes: dict[str, list[str]] = {}
    models: dict[str, list[str]] = {}
    for p in problems:
        kind = p.fix.get("kind") if p.fix else None
        node_id = p.field.split(".", 1)[0]
        if kind == MISSING_NODE:
            nodes.setdefault(p.fix["class_type"], []).append(node_id)  # type: ignore[index]
        elif kind == MISSING_MODEL:
            models.setdefault(f"{p.fix['folder']}/{p.fix['filename']}", []).append(node_id)  # type: ignore[index]
    other = [p.message for p in problems if not (p.fix and p.fix.get("kind") in (MISSING_NODE, MISSING_MODEL))]
    parts = []
    if nodes:
        parts.append("missing custom nodes: " + _with_nodes(nodes))
    if models:
        parts.append("missing models: " + _with_nodes(models))
    parts += other
    message = f"The workflow cannot run on {server}: " + "; ".join(parts)
    message = message if message.endswith(".") else message + "."
    if nodes or models:
        hints = []
        if nodes:
            hints.append("install the missing custom nodes (e.g. with ComfyUI-Manager) and restart ComfyUI")
        if models:
            hints.append("put the missing model files into the named ComfyUI/models folders")
        return IncompatibleServer(message, "To fix it, " + " and ".join(hints) + ", or use another server.")
    return RejectedInput(message, "Fix the workflow or the parameters named above.")


def _with_nodes(found: dict[str, list[str]]) -> str:
    def nodes(ids: list[str]) -> str:
        return ("node " if len(ids) == 1 else "nodes ") + ", ".join(ids)

    return ", ".join(f"{name} ({nodes(ids)})" for name, ids in sorted(found.items()))


# ------------------------------------------------------------------------------------------ live server


@dataclass
class ServerSnapshot:
    """What we last learned from one server, and how we recognise that it restarted."""

    fingerprint: str
    object_info_hash: str
    schemas: dict[str, NodeSchema]
    models: dict[str, list[str]] = field(default_factory=dict)
    fetched_at: float = 0.0


class PreflightCache:
    """Node schemas and model lists per server URL, refreshed when the server restarts or data gets old."""

    def __init__(self, max_age: float = 300.0) -> None:
        self.max_age = max_age
        self._servers: dict[str, ServerSnapshot] = {}

    def get(self, base_url: str) -> ServerSnapshot | None:
        return self._servers.get(base_url.rstrip("/"))

    def put(self, base_url: str, snapshot: ServerSnapshot) -> None:
        self._servers[base_url.rstrip("/")] = snapshot

    def invalidate(self, base_url: str | None = None) -> None:
        """Forget one server (e.g. after its websocket reconnected) or all of them."""
        if base_url is None:
            self._servers.clear()
        else:
            self._servers.pop(base_url.rstrip("/"), None)


def server_fingerprint(system_stats: dict[str, Any]) -> str:
    """Changes when the server is restarted with another version, arguments or machine."""
    system = system_stats.get("system") or {}
    keys = ("comfyui_version", "python_version", "pytorch_version", "argv", "ram_total", "embedded_python")
    picked = {k: system.get(k) for k in keys}
    picked["devices"] = [d.get("name") for d in system_stats.get("devices") or []]
    return hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()


def object_info_hash(object_info: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(object_info, sort_keys=True, default=str).encode()).hexdigest()


async def _get_json(session: Any, url: str) -> Any:
    async with session.get(url) as resp:
        if resp.status != 200:
            return None
        return await resp.json(content_type=None)


async def fetch_snapshot(base_url: str, session: Any, folders: set[str]) -> ServerSnapshot:
    """Fetch `/system_stats`, `/object_info` and the model lists of `folders` from a ComfyUI server."""
    base = base_url.rstrip("/")
    stats = await _get_json(session, f"{base}/system_stats") or {}
    object_info = await _get_json(session, f"{base}/object_info") or {}
    snapshot = ServerSnapshot(
        fingerprint=server_fingerprint(stats),
        object_info_hash=object_info_hash(object_info),
        schemas=parse_object_info(object_info),
        fetched_at=time.monotonic(),
    )
    await _fetch_models(base, session, snapshot, folders)
    return snapshot


async def _fetch_models(base: str, session: Any, snapshot: ServerSnapshot, folders: set[str]) -> None:
    for folder in sorted(folders - set(snapshot.models)):
        listed = await _get_json(session, f"{base}/models/{folder}")
        if isinstance(listed, list):
            snapshot.models[folder] = [str(m) for m in listed]


async def preflight_live(
    workflow: dict[str, Any],
    base_url: str,
    session: Any,
    cache: PreflightCache | None = None,
    *,
    allow_online: bool = False,
) -> list[Problem]:
    """`preflight` against a running ComfyUI; `session` is an aiohttp ClientSession owned by the caller."""
    from ..runtime.netpolicy import ensure_allowed

    ensure_allowed(base_url, allow_online, service="comfyui")
    folders = {r.folder for r in model_references(workflow)}
    snapshot = cache.get(base_url) if cache else None
    fresh = False
    if snapshot is not None:
        stats = await _get_json(session, f"{base_url.rstrip('/')}/system_stats") or {}
        too_old = cache is not None and time.monotonic() - snapshot.fetched_at > cache.max_age
        if server_fingerprint(stats) != snapshot.fingerprint or too_old:
            snapshot = None
    if snapshot is None:
        snapshot = await fetch_snapshot(base_url, session, folders)
        fresh = True
    else:
        await _fetch_models(base_url.rstrip("/"), session, snapshot, folders)
    problems = preflight(workflow, snapshot.schemas, snapshot.models)
    missing = any(p.fix and p.fix.get("kind") in (MISSING_NODE, MISSING_MODEL) for p in problems)
    if missing and not fresh:
        # Never blame a missing node or model on stale data: the user may have just installed it.
        snapshot = await fetch_snapshot(base_url, session, folders)
        problems = preflight(workflow, snapshot.schemas, snapshot.models)
    if cache is not None:
        cache.put(base_url, snapshot)
    return problems
