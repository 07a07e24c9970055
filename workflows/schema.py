"""Node schemas parsed from ComfyUI's `/object_info`, accepting both node generations.

V1 nodes describe a combo as `[[options], {...}]` and hidden inputs as plain strings; V3 nodes use
`["COMBO", {"options": [...]}]` and `["PROMPT"]`, and may have `display_name: null`. Both parse to the same
`InputSpec`, so the checks in `preflight` never look at the raw shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCALAR_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


@dataclass(frozen=True)
class InputSpec:
    """One node input: `type` is INT/FLOAT/STRING/BOOLEAN/COMBO or a link type (IMAGE, LATENT...)."""

    name: str
    type: str
    required: bool = True
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: tuple[Any, ...] | None = None
    upload: bool = False  # an image/video the client uploads; its combo lists server files, so never checked
    multiselect: bool = False

    @property
    def is_link_type(self) -> bool:
        """True when the input only takes a connection from another node's output."""
        return self.type not in SCALAR_TYPES and "," not in self.type and self.type != "*"


@dataclass(frozen=True)
class NodeSchema:
    """A node class: its inputs (required and optional), hidden inputs and output types."""

    name: str
    display_name: str
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    output_node: bool = False

    @property
    def required_inputs(self) -> list[str]:
        return [n for n, spec in self.inputs.items() if spec.required]


def parse_input(name: str, raw: Any, *, required: bool) -> InputSpec:
    """One entry of `input.required`/`input.optional` in either V1 or V3 shape."""
    if isinstance(raw, str):  # rare bare type string
        return InputSpec(name=name, type=raw, required=required)
    if not isinstance(raw, (list, tuple)) or not raw:
        return InputSpec(name=name, type="*", required=required)
    head = raw[0]
    opts: dict[str, Any] = raw[1] if len(raw) > 1 and isinstance(raw[1], dict) else {}
    upload = bool(opts.get("image_upload") or opts.get("video_upload") or opts.get("audio_upload"))
    if isinstance(head, (list, tuple)):  # V1 combo
        return InputSpec(
            name=name,
            type="COMBO",
            required=required,
            default=opts.get("default"),
            options=tuple(head),
            upload=upload,
        )
    kind = str(head)
    options = opts.get("options")
    return InputSpec(
        name=name,
        type=kind,
        required=required,
        default=opts.get("default"),
        min=_number(opts.get("min")),
        max=_number(opts.get("max")),
        options=tuple(options) if kind == "COMBO" and isinstance(options, (list, tuple)) else None,
        upload=upload,
        multiselect=bool(opts.get("multiselect", False)),
    )


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"  # a combo whose chosen option brings its own sub-inputs
DYNAMIC_TYPES = frozenset({"COMFY_AUTOGROW_V3", "COMFY_DYNAMICSLOT_V3"})  # inputs that grow with links
_DYNAMIC_ALL = DYNAMIC_TYPES | {DYNAMIC_COMBO}


def _dynamic_inputs(name: str, raw: Any, *, required: bool) -> dict[str, InputSpec]:
    """A V3 dynamic input (ComfyUI 0.38) as plain specs: the combo itself, and each option's sub-inputs under
    `"<input>.<sub>"` (the names the API graph uses). Sub-inputs depend on the choice, so none is required."""
    opts: dict[str, Any] = raw[1] if len(raw) > 1 and isinstance(raw[1], dict) else {}
    kind = str(raw[0])
    if kind in DYNAMIC_TYPES:
        return {name: InputSpec(name=name, type="*", required=False)}
    keys: list[Any] = []
    out: dict[str, InputSpec] = {}
    for option in opts.get("options") or []:
        if not isinstance(option, dict):
            keys.append(option)
            continue
        keys.append(option.get("key"))
        sub = option.get("inputs") or {}
        grouped = "required" in sub or "optional" in sub
        groups = [sub.get(g) or {} for g in ("required", "optional")] if grouped else [sub]
        for group in groups:
            for sub_name, sub_raw in group.items() if isinstance(group, dict) else ():
                dotted = f"{name}.{sub_name}"
                if dotted in out:
                    continue
                if _is_dynamic(sub_raw):
                    out.update(_dynamic_inputs(dotted, sub_raw, required=False))
                else:
                    out[dotted] = parse_input(dotted, sub_raw, required=False)
    spec = InputSpec(name=name, type="COMBO", required=required, default=opts.get("default"), options=tuple(keys))
    return {name: spec, **out}


def _is_dynamic(raw: Any) -> bool:
    return isinstance(raw, (list, tuple)) and bool(raw) and isinstance(raw[0], str) and raw[0] in _DYNAMIC_ALL


def parse_node(name: str, raw: dict[str, Any]) -> NodeSchema:
    """One `/object_info` entry; unknown keys are ignored so newer servers still parse."""
    section = raw.get("input") or {}
    inputs: dict[str, InputSpec] = {}
    for group, required in (("required", True), ("optional", False)):
        for input_name, spec in (section.get(group) or {}).items():
            if _is_dynamic(spec):
                inputs.update(_dynamic_inputs(input_name, spec, required=required))
            else:
                inputs[input_name] = parse_input(input_name, spec, required=required)
    hidden = tuple((section.get("hidden") or {}).keys())
    outputs = tuple(str(o) if not isinstance(o, list) else "COMBO" for o in raw.get("output") or ())
    return NodeSchema(
        name=name,
        display_name=raw.get("display_name") or name,
        inputs=inputs,
        hidden=hidden,
        outputs=outputs,
        output_node=bool(raw.get("output_node", False)),
    )


def parse_object_info(object_info: dict[str, Any]) -> dict[str, NodeSchema]:
    """All node classes of a server; an entry that is not a dict is skipped rather than failing the lot."""
    return {name: parse_node(name, raw) for name, raw in object_info.items() if isinstance(raw, dict)}
