"""A template's parameters as the panel shows them, read from its sidecar with the stdlib only.

Blender's main thread must not import pydantic or the template loader's dependencies, yet the Generate section
draws the chosen template's parameters as typed fields. This reads only the `<name>.params.toml|json` sidecar
(bundled folder first, then the user's template folders, a later folder's template shadowing an earlier one, as in
`registry.list_templates`) and describes each parameter by the kind of field it gets.
Thread rule: any thread; reads two small files at most, so call it on a user action (never from Panel.draw).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sidecar import sidecar_shape_errors

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
# Field kinds the panel draws; "prompt" is a string drawn as a wide text field, "seed" an int where -1 = random.
KINDS = ("string", "prompt", "int", "float", "choice", "seed", "image")
MAX_SIDECAR_BYTES = 1024 * 1024  # a sidecar is a few KB; a larger one is not read on Blender's main thread
_PROMPT_NAMES = frozenset({"prompt", "negative_prompt", "positive_prompt", "text"})


class ParamsUnreadable(ValueError):
    """The template's sidecar is missing or broken; the message names the file and what to fix."""


@dataclass(frozen=True)
class PanelParam:
    """One template parameter as a panel field (plain data)."""

    name: str
    kind: str  # one of KINDS
    description: str = ""
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    value_type: str = "string"  # the sidecar's `type` (a choice of numbers goes back to the job as a number)


def field_kind(name: str, raw: dict[str, Any]) -> str:
    """The panel field kind of one sidecar parameter (`type` plus the hints `choices`, `random` and its name)."""
    ptype = str(raw.get("type", "string"))
    if ptype == "image":
        return "image"
    if ptype == "int" and (raw.get("random") or name == "seed"):
        return "seed"
    if raw.get("choices"):
        return "choice"
    if ptype in ("int", "float"):
        return ptype
    if ptype == "string" and (name in _PROMPT_NAMES or name.endswith("_prompt")):
        return "prompt"
    return "string"  # "string", "model" and anything else a person types


def template_names(template_dirs: list[str] | tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(name, "bundled" | folder) of every workflow template in the bundled and user folders, by name; a user
    template shadows a bundled one of the same name. Lists file names only (no file is read)."""
    found: dict[str, str] = {}
    for folder, where in [(BUNDLED_DIR, "bundled"), *((Path(d).expanduser(), str(d)) for d in template_dirs)]:
        if not folder.is_dir():
            continue
        for path in folder.glob("*.json"):
            if not path.name.endswith(".params.json"):
                found[path.stem] = where
    return sorted(found.items())


def find_sidecar(template: str, template_dirs: list[str] | tuple[str, ...] = ()) -> Path | None:
    """The sidecar of the template called `template` (or beside a workflow JSON path); the last folder wins."""
    as_path = Path(template).expanduser()
    if template.endswith(".json") and as_path.is_file():
        folders, stem = [as_path.parent], as_path.stem
    elif Path(template).name != template or template.startswith(".") or "\\" in template:
        return None  # a name, not a path: it never reaches out of the template folders
    else:
        folders = [BUNDLED_DIR, *(Path(d).expanduser() for d in template_dirs)]
        stem = template
    found = None
    for folder in folders:
        if not (folder / f"{stem}.json").is_file():
            continue
        found = None  # a later folder's workflow shadows an earlier one, sidecar or not
        for suffix in (".params.toml", ".params.json"):
            if (folder / f"{stem}{suffix}").is_file():
                found = folder / f"{stem}{suffix}"
                break
    return found


def read_panel_params(template: str, template_dirs: list[str] | tuple[str, ...] = ()) -> list[PanelParam]:
    """The template's parameters in sidecar order; [] when it has no sidecar. Raises ParamsUnreadable."""
    path = find_sidecar(template, template_dirs)
    if path is None:
        return []
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ParamsUnreadable(
                f"{path} is larger than {MAX_SIDECAR_BYTES // 1024} KB, too large for a parameter file. "
                "Fix the file or pick another template."
            )
        text = path.read_text(encoding="utf-8")
        meta = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except ParamsUnreadable:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ParamsUnreadable(f"Cannot read {path}: {exc}. Fix the file or pick another template.") from exc
    if not isinstance(meta, dict):
        raise ParamsUnreadable(f"{path} must hold a table of settings. Fix the file or pick another template.")
    errors = sidecar_shape_errors(meta)
    if errors:
        raise ParamsUnreadable(f"{path}: {'; '.join(errors)}. Fix the file or pick another template.")
    params = []
    for name, raw in (meta.get("params") or {}).items():
        kind = field_kind(name, raw)
        default = raw.get("default")
        choices = tuple(str(c) for c in raw.get("choices") or ())
        if any("\n" in c or not c for c in choices):
            raise ParamsUnreadable(
                f'{path}: parameter "{name}": a choice is empty or spans lines. Fix the file or pick another template.'
            )
        params.append(
            PanelParam(
                name=str(name),
                kind=kind,
                description=str(raw.get("description", "")),
                required=bool(raw.get("required", False)),
                default=default,
                min=raw.get("min"),
                max=raw.get("max"),
                choices=choices,
                value_type=str(raw.get("type", "string")),
            )
        )
    return params
