"""Checking a template's `.params.toml` sidecar before use: a hand-written file is user input, so a wrong kind of
value or an unknown (mistyped) key is a message that names it, never a TypeError deep inside. Stdlib only.
"""

from __future__ import annotations

from typing import Any

# The value kinds a sidecar may hold, checked before use: a hand-written file is user input, and a wrong kind
# (params = "x", choices = 5, min = "abc") must be a message naming it, not a TypeError deep inside.
_NUMBER = (int, float)
_PARAM_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "type": ((str,), "text"),
    "bind": ((str, list), "a text or a list of texts"),
    "required": ((bool,), "true or false"),
    "min": (_NUMBER, "a number"),
    "max": (_NUMBER, "a number"),
    "choices": ((list,), "a list"),
    "description": ((str,), "text"),
    "random": ((bool,), "true or false"),
}
_TOP_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "text"),
    "kind": ((str,), "text"),
    "description": ((str,), "text"),
    "tasks": ((list,), "a list of texts"),
    "params": ((dict,), "a table of parameters ([params.<name>])"),
}


def sidecar_shape_errors(meta: dict[str, Any]) -> list[str]:
    """Every value of a parsed sidecar whose kind is wrong, as "where: must be ..." texts (empty when fine)."""
    errors = [
        f'"{key}" must be {what}, not {_kind(meta[key])}'
        for key, (kinds, what) in _TOP_FIELDS.items()
        if key in meta and not _is(meta[key], kinds)
    ]
    if isinstance(meta.get("tasks"), list) and not all(isinstance(t, str) for t in meta["tasks"]):
        errors.append('"tasks" must be a list of texts')
    params = meta.get("params")
    if not isinstance(params, dict):
        return errors
    for pname, raw in params.items():
        if not isinstance(raw, dict):
            errors.append(f'parameter "{pname}" must be a table ([params.{pname}]), not {_kind(raw)}')
            continue
        for key, (kinds, what) in _PARAM_FIELDS.items():
            if key in raw and not _is(raw[key], kinds):
                errors.append(f'parameter "{pname}": "{key}" must be {what}, not {_kind(raw[key])}')
        if isinstance(raw.get("bind"), list) and not all(isinstance(b, str) for b in raw["bind"]):
            errors.append(f'parameter "{pname}": "bind" must be a text or a list of texts')
        choices = raw.get("choices")
        if isinstance(choices, list) and not all(isinstance(c, (str, int, float, bool)) for c in choices):
            errors.append(f'parameter "{pname}": "choices" must list plain values (texts, numbers, true/false)')
    return errors


_PARAM_KEYS = (*_PARAM_FIELDS, "default")


def sidecar_unknown_keys(meta: dict[str, Any]) -> list[str]:
    """A warning for every sidecar key GenBridge does not know (a typo would be silently ignored), naming the
    nearest valid key."""
    import difflib

    def check(keys: Any, known: tuple[str, ...], where: str) -> list[str]:
        out = []
        for key in keys:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            nearest = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(known)}."
            out.append(f"unknown key '{where}{key}' is ignored; {nearest}")
        return out

    warnings = check(meta, tuple(_TOP_FIELDS), "")
    params = meta.get("params")
    if isinstance(params, dict):
        for pname, raw in params.items():
            if isinstance(raw, dict):
                warnings += check(raw, _PARAM_KEYS, f"params.{pname}.")
    return warnings


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    # bool is an int in Python, but `min = true` is not a number to a person.
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)


def _kind(value: Any) -> str:
    names = {str: "text", bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a table"}
    shown = repr(value) if isinstance(value, (str, int, float, bool)) and len(repr(value)) < 40 else ""
    return f"{names.get(type(value), type(value).__name__)} {shown}".strip()
