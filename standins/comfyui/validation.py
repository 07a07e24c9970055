"""`POST /prompt` validation, replayed from ComfyUI's `execution.py` (`validate_prompt`, `validate_inputs`).

Same walk, same error dicts, same quirks as the captured 0.3.64 server (`06_validation_errors.json`): the
prompt-level checks stop at the first bad node; node-level errors are collected per node by a depth-first walk
from each output; an exception while resolving a link becomes `exception_during_validation` on the output
(or `exception_during_inner_validation` on the linked node); `details` joins only the output node's own
reasons; an invalid node is listed with every failing output validated so far. Values are coerced in place
(`"32"` -> 32) so history stores the coerced graph, as the server does. 0.38 differences (`missing_node_type`,
`dependency_cycle`, dynamic combos with dotted sub-inputs) are switched on by `v038`.

Pure functions: the caller passes the schemas and a `file_exists(name)` callback for the file-loading nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .schema import CUSTOM_FILE_CHECKS, DYNAMIC_COMBO

_TB_PROMPT = (
    '  File "<comfyui-root>/execution.py", line 1010, in validate_prompt\n'
    "    m = await validate_inputs(prompt_id, prompt, o, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_TB_INNER = (
    '  File "<comfyui-root>/execution.py", line 816, in validate_inputs\n'
    "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_TB_CLASS = (
    '  File "<comfyui-root>/execution.py", line 788, in validate_inputs\n'
    "    o_class_type = prompt[o_id]['class_type']\n"
    "                   ~~~~~~^^^^^^\n"
)
_TB_SLOT = (
    '  File "<comfyui-root>/execution.py", line 790, in validate_inputs\n'
    "    received_type = r[val[1]]\n"
    "                    ~^^^^^^^^\n"
)


class _LinkException(Exception):
    """A Python exception the real server raises while resolving a link (KeyError, IndexError, TypeError)."""

    def __init__(self, kind: str, text: str, where: str) -> None:
        super().__init__(text)
        self.kind, self.text, self.where = kind, text, where


@dataclass
class Verdict:
    """What `validate_prompt` returns: (valid, error, good outputs, node_errors) like the server's tuple."""

    ok: bool
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


def err(kind: str, message: str, details: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One error dict in the server's shape."""
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


def is_link(value: Any) -> bool:
    return isinstance(value, list)


def _prompt_level(graph: dict[str, Any], schemas: dict[str, Any], v038: bool) -> dict[str, Any] | None:
    for nid, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            if v038:
                title = (node.get("_meta") or {}).get("title") if isinstance(node, dict) else None
                message = f"Node '{title or f'ID #{nid}'}' has no class_type. The workflow may be corrupted."
                extra = {"node_id": nid, "class_type": None, "node_title": title}
                return err("missing_node_type", message, f"Node ID '#{nid}'", extra)
            message = "Cannot execute because a node is missing the class_type property."
            return err("invalid_prompt", message, f"Node ID '#{nid}'")
        cls = node["class_type"]
        if not isinstance(cls, str) or cls not in schemas:
            if v038:
                title = (node.get("_meta") or {}).get("title") or cls
                message = f"Node '{title}' not found. The custom node may not be installed."
                extra = {"node_id": nid, "class_type": cls, "node_title": title}
                return err("missing_node_type", message, f"Node ID '#{nid}'", extra)
            return err("invalid_prompt", f"Cannot execute because node {cls} does not exist.", f"Node ID '#{nid}'")
    return None


def validate_prompt(
    graph: Any,
    schemas: dict[str, Any],
    targets: Any,
    *,
    v038: bool = False,
    file_exists: Callable[[str], bool] = lambda name: False,
) -> Verdict:
    """Validate an API-format graph like ComfyUI; coerces widget values in `graph` in place."""
    if not isinstance(graph, dict):
        graph = {}  # a list iterates as no nodes: "Prompt has no outputs"
    problem = _prompt_level(graph, schemas, v038)
    if problem is not None:
        return Verdict(False, problem)
    outputs = [
        nid
        for nid, node in graph.items()
        if schemas[node["class_type"]].get("output_node") is True
        and (targets is None or (isinstance(targets, (list, str, dict)) and nid in targets))
    ]
    if not outputs:
        return Verdict(False, err("prompt_no_outputs", "Prompt has no outputs", ""))
    walker = _Walker(graph, schemas, v038, file_exists)
    good: list[str] = []
    failures: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for out in outputs:
        try:
            valid, reasons = walker.node(out, ())
        except (_LinkException, RecursionError) as exc:
            # A very deep graph exhausts Python's stack on the server too; it reports that for the output.
            kind, text, where = (
                (exc.kind, exc.text, exc.where)
                if isinstance(exc, _LinkException)
                else ("RecursionError", "maximum recursion depth exceeded", _TB_INNER)
            )
            valid = False
            extra = {"exception_type": kind, "traceback": [_TB_PROMPT, where]}
            reasons = [err("exception_during_validation", "Exception when validating node", text, extra)]
            walker.validated[out] = (False, reasons)
        if valid:
            good.append(out)
            continue
        failures.append((out, reasons))
        for nid, (ok, why) in walker.validated.items():
            if not ok and why:
                entry = node_errors.setdefault(
                    nid, {"errors": why, "dependent_outputs": [], "class_type": graph[nid]["class_type"]}
                )
                entry["dependent_outputs"].append(out)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, why in failures for e in why)
        error = err("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return Verdict(False, error, [], node_errors)
    return Verdict(True, None, good, node_errors)


class _Walker:
    """The recursive `validate_inputs` with its `validated` memo (insertion order matters for node_errors)."""

    def __init__(self, graph: dict[str, Any], schemas: dict[str, Any], v038: bool, exists: Callable[[str], bool]):
        self.graph, self.schemas, self.v038, self.exists = graph, schemas, v038, exists
        self.validated: dict[str, tuple[bool, list[dict[str, Any]]]] = {}

    def node(self, nid: str, path: tuple[str, ...]) -> tuple[bool, list[dict[str, Any]]]:
        if nid in self.validated:
            return self.validated[nid]
        node = self.graph[nid]
        cls = node["class_type"]
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            inputs = node["inputs"] = {}
        spec_in = self.schemas[cls].get("input") or {}
        custom = CUSTOM_FILE_CHECKS.get(cls)
        errors: list[dict[str, Any]] = []
        valid = True
        for category in ("required", "optional"):
            for name, spec in (spec_in.get(category) or {}).items():
                result = self._input(nid, name, spec, category, inputs, custom, path)
                if result is False:
                    valid = False
                elif result is not None:
                    errors.extend(result)
        if custom is not None and custom[0] in inputs and not is_link(inputs[custom[0]]):
            value = inputs[custom[0]]
            if not (isinstance(value, str) and self.exists(value)):
                details = f"{custom[0]} - {custom[1].format(value)}"
                extra = {"input_name": custom[0]}
                errors.append(err("custom_validation_failed", "Custom validation failed for node", details, extra))
        if nid in self.validated:  # marked while its inputs were walked: it closes a dependency loop
            errors = self.validated[nid][1] + errors
        ret = (not errors and valid, errors)
        self.validated[nid] = ret
        return ret

    def _input(
        self,
        nid: str,
        name: str,
        spec: Any,
        category: str,
        inputs: dict[str, Any],
        custom: tuple[str, str] | None,
        path: tuple[str, ...],
    ) -> list[dict[str, Any]] | bool | None:
        """Errors of one input; False when only an upstream node is invalid; None when fine."""
        kind = spec[0] if isinstance(spec, list) and spec else spec
        opts = spec[1] if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict) else {}
        info = [kind, opts]  # the server's (input_type, extra_info) pair
        if name not in inputs:
            if category == "required":
                return [err("required_input_missing", "Required input is missing", name, {"input_name": name})]
            return None
        value = inputs[name]
        if is_link(value):
            return self._link(nid, name, kind, info, value, path)
        if isinstance(value, dict) and "__value__" in value:
            value = inputs[name] = value["__value__"]
        try:
            if kind == "INT":
                value = inputs[name] = int(value)
            elif kind == "FLOAT":
                value = inputs[name] = float(value)
            elif kind == "STRING":
                value = inputs[name] = str(value)
            elif kind == "BOOLEAN":
                value = inputs[name] = bool(value)
        except (TypeError, ValueError, OverflowError) as exc:
            extra = {"input_name": name, "input_config": info, "received_value": value, "exception_message": str(exc)}
            message = f"Failed to convert an input value to a {kind} value"
            return [err("invalid_input_type", message, f"{name}, {value}, {exc}", extra)]
        if custom is not None and custom[0] == name:
            return None  # the node's own validate function checks this input instead
        extra = {"input_name": name, "input_config": info, "received_value": value}
        try:
            if "min" in opts and value < opts["min"]:
                return [err("value_smaller_than_min", f"Value {value} smaller than min of {opts['min']}", name, extra)]
            if "max" in opts and value > opts["max"]:
                return [err("value_bigger_than_max", f"Value {value} bigger than max of {opts['max']}", name, extra)]
        except TypeError:
            pass  # the server would raise here too; such specs do not occur in the captured schema
        if self.v038 and kind == DYNAMIC_COMBO:
            return self._dynamic(name, info, opts, value, inputs)
        if isinstance(kind, list) or kind == "COMBO":
            options = opts.get("options", []) if kind == "COMBO" else kind
            if value not in options:
                return [_not_in_list(name, value, options, info)]
        return None

    def _link(
        self, nid: str, name: str, kind: Any, info: list[Any], value: list[Any], path: tuple[str, ...]
    ) -> list[dict[str, Any]] | bool | None:
        if len(value) != 2:
            extra = {"input_name": name, "input_config": info, "received_value": value}
            message = "Bad linked input, must be a length-2 list of [node_id, slot_index]"
            return [err("bad_linked_input", message, name, extra)]
        source, slot = value
        if isinstance(source, (list, dict)):
            raise _LinkException("TypeError", f"unhashable type: '{type(source).__name__}'", _TB_CLASS)
        if source not in self.graph:
            raise _LinkException("KeyError", repr(source), _TB_CLASS)
        returns = self.schemas[self.graph[source]["class_type"]].get("output") or []
        received = returns[_slot(slot, len(returns))]
        if not _types_match(received, kind):
            details = f"{name}, received_type({received}) mismatch input_type({kind})"
            extra = {"input_name": name, "input_config": info, "received_type": received, "linked_node": value}
            return [err("return_type_mismatch", "Return type mismatch between linked nodes", details, extra)]
        chain = (*path, nid)
        if source in chain:  # a loop: 0.38 names it; 0.3.64 recursed until Python gave up
            if self.v038:
                cycle = " -> ".join([*chain[chain.index(source) :], source])
                self.validated[source] = (False, [err("dependency_cycle", "Dependency cycle detected", cycle)])
                return False
            raise _LinkException("RecursionError", "maximum recursion depth exceeded", _TB_INNER)
        try:
            ok, _ = self.node(source, chain)
        except _LinkException as exc:
            extra = {
                "input_name": name,
                "input_config": info,
                "exception_message": exc.text,
                "exception_type": exc.kind,
                "traceback": [_TB_INNER, exc.where],
                "linked_node": value,
            }
            reason = err("exception_during_inner_validation", "Exception when validating inner node", exc.text, extra)
            self.validated[source] = (False, [reason])
            return False
        return None if ok else False

    def _dynamic(
        self, name: str, info: list[Any], opts: dict[str, Any], value: Any, inputs: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        """0.38 DynamicCombo: the key picks an option whose sub-inputs arrive as `name.sub` fields."""
        options = {o.get("key"): o.get("inputs") or {} for o in opts.get("options", []) if isinstance(o, dict)}
        if value not in options:
            return [_not_in_list(name, value, list(options), info)]
        errors: list[dict[str, Any]] = []
        for category in ("required", "optional"):
            for sub, spec in (options[value].get(category) or {}).items():
                dotted = f"{name}.{sub}"
                if dotted not in inputs and sub in inputs and "." not in sub:
                    continue  # the legacy flat input (SaveVideo's hidden `codec`) still counts
                result = self._input("", dotted, spec, category, inputs, None, ())
                if isinstance(result, list):
                    errors.extend(result)
        return errors or None


def _not_in_list(name: str, value: Any, options: list[Any], info: list[Any]) -> dict[str, Any]:
    # Like the server: long lists (model files) are summarised and the input_config is dropped.
    listed = f"(list of length {len(options)})" if len(options) > 20 else str(options)
    extra = {"input_name": name, "input_config": None if len(options) > 20 else info, "received_value": value}
    return err("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}", extra)


def _slot(slot: Any, size: int) -> int:
    """Python tuple indexing, with the exceptions it raises (bools index, negatives count from the end)."""
    if isinstance(slot, bool) or isinstance(slot, int):
        index = int(slot)
        if -size <= index < size:
            return index
        raise _LinkException("IndexError", "tuple index out of range", _TB_SLOT)
    name = "NoneType" if slot is None else type(slot).__name__
    raise _LinkException("TypeError", f"tuple indices must be integers or slices, not {name}", _TB_SLOT)


def _types_match(received: Any, expected: Any) -> bool:
    """`validate_node_input` (non-strict): equal, `*` on either side, or overlapping comma-separated sets."""
    if received == expected or received == "*" or expected == "*":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want)
