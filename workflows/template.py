"""A workflow template: an API-format ComfyUI workflow plus named, typed parameters bound to node inputs.

The parameters come from a sidecar beside the JSON (`<name>.params.toml` or `<name>.params.json`):

    name = "sd15_txt2img"             # optional, default: the file stem
    kind = "image"                    # what it makes: image, video, upscale, character_image...
    tasks = ["image", "keyframe"]     # job tasks it can serve (used to pick defaults)
    description = "Text to image with Stable Diffusion 1.5."

    [params.steps]
    type = "int"                      # string, int, float, bool, image (a local file path), model (a file name)
    default = 20                      # no default and `required = true` -> the caller must give it
    min = 1
    max = 150
    choices = [...]                   # optional allowed values
    bind = "Sampler.steps"            # "<node title or id>.<input>", or a list of them
    description = "Denoising steps."

A workflow without a sidecar still loads: every literal input becomes a parameter named `<node id>.<input>`
(also reachable as `<node title>.<input>` when the title is unique). `customize(**params)` returns a new
workflow dict and never changes the template. All parameter problems are reported together in one
`TemplateParamError` (a RejectedInput) whose message names each parameter.

Image parameters hold a local file path. `customize` writes the file's base name into the bound input and
marks the node with `_meta["genbridge_upload"] = {"input": <input name>, "path": <local path>}`; ComfyUI
ignores `_meta`. The client uploads each marked file and writes the server-returned name into that input
(see `workflows.image_uploads` / `workflows.apply_uploaded_names`).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.backend import Problem
from ..runtime.errors import RejectedInput
from .importing import check_api_format, is_link, node_label
from .sidecar import sidecar_shape_errors, sidecar_unknown_keys

log = logging.getLogger("genbridge.templates")

PARAM_TYPES = ("string", "int", "float", "bool", "image", "model")
UPLOAD_META_KEY = "genbridge_upload"
SEED_MAX = 2**63 - 1
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class TemplateParamError(RejectedInput):
    """Bad parameters for a template; `problems` has one entry per parameter."""

    def __init__(self, template: str, problems: list[Problem]) -> None:
        listed = "; ".join(f"{p.field}: {p.message}" for p in problems)
        super().__init__(
            f'Template "{template}" cannot use these parameters: {listed}.',
            f"Fix the parameters named above; `python -m genbridge templates show {template}` lists them.",
        )
        self.problems = problems


@dataclass(frozen=True)
class Binding:
    """Where a parameter's value goes: `inputs[input]` of node `node_id`."""

    node_id: str
    input: str


@dataclass(frozen=True)
class ParamSpec:
    """A named, typed parameter of a template."""

    name: str
    type: str
    bindings: tuple[Binding, ...]
    default: Any = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    description: str = ""
    random: bool = False  # -1 means "pick a random value" (seeds)

    def describe(self) -> dict[str, Any]:
        """Plain data for `templates show` and the UI."""
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        for key in ("default", "min", "max", "choices", "description"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = list(value) if key == "choices" else value
        out["binds"] = [f"{b.node_id}.{b.input}" for b in self.bindings]
        return out

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Coerce `value` to this type (strings from `--set k=v` are parsed) and range-check it."""
        if self.random and value == -1:
            return random.randint(0, int(self.max) if self.max is not None else SEED_MAX), None
        value, error = _coerce(self.type, value)
        if error:
            return None, error
        if self.choices is not None and value not in self.choices:
            return None, f"{value!r} is not one of {', '.join(repr(c) for c in self.choices)}"
        if self.type in ("int", "float"):
            if self.min is not None and value < self.min:
                return None, f"{value} is below the minimum {_num(self.min)}"
            if self.max is not None and value > self.max:
                return None, f"{value} is above the maximum {_num(self.max)}"
        if self.type == "image" and not Path(value).is_file():
            return None, f"the image file {value} does not exist"
        return value, None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 2**63 else str(x)


def _coerce(kind: str, value: Any) -> tuple[Any, str | None]:
    shown = repr(value)
    if kind == "int":
        if isinstance(value, bool):
            return None, f"expected a whole number, got {shown}"
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        if isinstance(value, str):
            try:
                return int(value.strip()), None
            except ValueError:
                pass
        return None, f"expected a whole number, got {shown}"
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return None, f"expected a number, got {shown}"
        else:
            return None, f"expected a number, got {shown}"
        if not math.isfinite(number):
            return None, f"expected a finite number, got {shown}"
        return number, None
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE, None
        return None, f"expected true or false, got {shown}"
    # string, image, model
    if isinstance(value, Path) and kind == "image":
        value = str(value)
    if not isinstance(value, str):
        return None, f"expected text, got {shown}"
    if kind in ("image", "model") and not value.strip():
        return None, "expected a file name, got an empty text"
    return value, None


@dataclass
class Template:
    """A parameterised workflow; the stored workflow is private and never changed."""

    name: str
    workflow_data: dict[str, Any]
    params: dict[str, ParamSpec]
    kind: str = "workflow"
    description: str = ""
    tasks: tuple[str, ...] = ()
    path: Path | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def workflow(self) -> dict[str, Any]:
        """A copy of the template's workflow (edit it freely)."""
        return copy.deepcopy(self.workflow_data)

    def customize(self, **params: Any) -> dict[str, Any]:
        """A new API-format workflow with `params` applied; raises TemplateParamError listing every problem."""
        values = self.resolve_params(params)
        out = copy.deepcopy(self.workflow_data)
        for name, value in values.items():
            spec = self.params[name]
            for binding in spec.bindings:
                node = out[binding.node_id]
                if spec.type == "image":
                    node["inputs"][binding.input] = Path(value).name
                    node.setdefault("_meta", {})[UPLOAD_META_KEY] = {"input": binding.input, "path": str(value)}
                else:
                    node["inputs"][binding.input] = value
        return out

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults merged with `params`, every value checked; all problems raised together."""
        problems: list[Problem] = []
        given: dict[str, Any] = {}
        for key, value in params.items():
            name = self.aliases.get(key, key)
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                problems.append(Problem(field=key, message=f"unknown parameter (known: {known})"))
                continue
            given[name] = value
        values: dict[str, Any] = {}
        for name, spec in self.params.items():
            if name in given:
                value, error = spec.check(given[name])
                if error:
                    problems.append(Problem(field=name, message=error))
                    continue
                values[name] = value
            elif spec.required:
                problems.append(Problem(field=name, message="required parameter is missing"))
            elif spec.default is not None:
                value, error = spec.check(spec.default)
                if error:  # a template whose default is wrong must not silently produce a bad workflow
                    problems.append(Problem(field=name, message=f"template default is invalid: {error}"))
                else:
                    values[name] = value
        if problems:
            raise TemplateParamError(self.name, problems)
        return values

    def image_bindings(self, params: dict[str, Any]) -> dict[str, str]:
        """`{node_id: local file path}` for every image parameter: the files the client must upload."""
        values = self.resolve_params(params)
        return {
            b.node_id: str(values[name])
            for name, spec in self.params.items()
            if spec.type == "image" and name in values
            for b in spec.bindings
        }

    def describe(self) -> dict[str, Any]:
        """Plain data for `templates show`."""
        return {
            "name": self.name,
            "kind": self.kind,
            "tasks": list(self.tasks),
            "description": self.description,
            "path": str(self.path) if self.path else "",
            "params": {n: s.describe() for n, s in self.params.items()},
        }


# ---------------------------------------------------------------------------------------------- loading


def sidecar_for(json_path: Path) -> Path | None:
    """`<stem>.params.toml` or `<stem>.params.json` beside the workflow, if present."""
    for suffix in (".params.toml", ".params.json"):
        candidate = json_path.with_name(json_path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def load_template(path: str | Path) -> Template:
    """Load an API-format workflow JSON and its sidecar (if any); raises RejectedInput naming every fault."""
    from .importing import load_workflow_file

    json_path = Path(path)
    workflow = load_workflow_file(json_path)
    sidecar = sidecar_for(json_path)
    if sidecar is None:
        return template_from_workflow(workflow, name=json_path.stem, path=json_path)
    try:
        text = sidecar.read_text(encoding="utf-8")
        meta = tomllib.loads(text) if sidecar.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise RejectedInput(f"The template sidecar {sidecar.name} cannot be read: {exc}.", "Fix the file.") from None
    except RecursionError:
        raise RejectedInput(f"The template sidecar {sidecar.name} is nested too deeply.", "Fix the file.") from None
    if not isinstance(meta, dict):
        raise RejectedInput(
            f"The template sidecar {sidecar.name} must hold a table of settings, not a {type(meta).__name__}.",
            "See the template documentation (workflows/template.py) for the layout.",
        )
    for warning in sidecar_unknown_keys(meta):
        log.warning("%s: %s", sidecar.name, warning)
    return template_from_metadata(workflow, meta, default_name=json_path.stem, path=json_path)


def template_from_metadata(
    workflow: dict[str, Any], meta: dict[str, Any], *, default_name: str, path: Path | None = None
) -> Template:
    """Build a template from a workflow and its parsed sidecar, checking every binding."""
    workflow = check_api_format(workflow, source=f'The template "{default_name}"')
    name = str(meta.get("name") or default_name)
    errors = sidecar_shape_errors(meta)
    if errors:
        raise RejectedInput(
            f'The template "{name}" has a malformed .params file: ' + "; ".join(errors) + ".",
            "Fix the values named above in the template's .params file.",
        )
    params: dict[str, ParamSpec] = {}
    for pname, raw in (meta.get("params") or {}).items():
        ptype = raw.get("type", "string")
        if ptype not in PARAM_TYPES:
            errors.append(f'parameter "{pname}" has unknown type "{ptype}" (use one of {", ".join(PARAM_TYPES)})')
            continue
        targets = raw.get("bind") or []
        targets = [targets] if isinstance(targets, str) else list(targets)
        if not targets:
            errors.append(f'parameter "{pname}" is not bound to any node input (add bind = "<node>.<input>")')
            continue
        bindings = []
        for target in targets:
            binding, error = resolve_binding(workflow, str(target))
            if error:
                errors.append(f'parameter "{pname}" is bound to "{target}", but {error}')
            elif binding is not None:
                bindings.append(binding)
        choices = raw.get("choices")
        params[pname] = ParamSpec(
            name=pname,
            type=ptype,
            bindings=tuple(bindings),
            default=raw.get("default"),
            required=bool(raw.get("required", False)),
            min=raw.get("min"),
            max=raw.get("max"),
            choices=tuple(choices) if choices is not None else None,
            description=str(raw.get("description", "")),
            random=bool(raw.get("random", False)),
        )
    if errors:
        raise RejectedInput(
            f'The template "{name}" has bad parameter bindings: ' + "; ".join(errors) + ".",
            "Fix the template's .params file so every bind names an existing node input.",
        )
    return Template(
        name=name,
        workflow_data=copy.deepcopy(workflow),
        params=params,
        kind=str(meta.get("kind", "workflow")),
        description=str(meta.get("description", "")),
        tasks=tuple(meta.get("tasks") or ()),
        path=path,
    )


def resolve_binding(workflow: dict[str, Any], target: str) -> tuple[Binding | None, str | None]:
    """`"<node id or title>.<input>"` -> Binding, or an error saying why it does not fit this workflow."""
    node_ref, sep, input_name = target.rpartition(".")
    if not sep or not node_ref or not input_name:
        return None, 'it is not of the form "<node title or id>.<input>"'
    if node_ref in workflow:
        node_id = node_ref
    else:
        matches = [nid for nid, node in workflow.items() if (node.get("_meta") or {}).get("title") == node_ref]
        if not matches:
            return None, f'no node has the id or title "{node_ref}"'
        if len(matches) > 1:
            return None, f'the title "{node_ref}" is used by nodes {", ".join(matches)}; bind by node id instead'
        node_id = matches[0]
    node = workflow[node_id]
    inputs = node.get("inputs") or {}
    if input_name not in inputs:
        return None, f'{node_label(node_id, node)} has no input "{input_name}"'
    if is_link(inputs[input_name]):
        return None, f'input "{input_name}" of {node_label(node_id, node)} is a link, not a value'
    return Binding(node_id, input_name), None


def template_from_workflow(workflow: dict[str, Any], *, name: str, path: Path | None = None) -> Template:
    """A template for a plain API-format workflow: each literal input is a parameter `<node id>.<input>`."""
    workflow = check_api_format(workflow, source=f'The workflow "{name}"')
    titles: dict[str, list[str]] = {}
    for nid, node in workflow.items():
        title = (node.get("_meta") or {}).get("title")
        if title:
            titles.setdefault(title, []).append(nid)
    params: dict[str, ParamSpec] = {}
    aliases: dict[str, str] = {}
    for nid, node in workflow.items():
        title = (node.get("_meta") or {}).get("title")
        for input_name, value in (node.get("inputs") or {}).items():
            if is_link(value) or not isinstance(value, (str, int, float, bool)):
                continue
            pname = f"{nid}.{input_name}"
            ptype = (
                "bool"
                if isinstance(value, bool)
                else "int"
                if isinstance(value, int)
                else "float"
                if isinstance(value, float)
                else "string"
            )
            params[pname] = ParamSpec(
                name=pname,
                type=ptype,
                bindings=(Binding(nid, input_name),),
                default=value,
                description=f"{input_name} of {node_label(nid, node)}",
            )
            if title and len(titles.get(title, [])) == 1:
                aliases[f"{title}.{input_name}"] = pname
    return Template(
        name=name,
        workflow_data=copy.deepcopy(workflow),
        params=params,
        kind="workflow",
        description="Plain API-format workflow (no .params file).",
        path=path,
        aliases=aliases,
    )
