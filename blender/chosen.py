"""What the user chose in Blender's Generate (the job's `chosen` inputs): the degradation and WanGP's pre-flight
never change those without saying so, and refuse instead of adjusting (issue 17).

A field counts as chosen when the user set it: an operator property given explicitly (F3's redo panel, scripts,
keymaps: `is_property_set`), a Scene generate field whose value differs from its RNA default, a template row whose
value differs from the sidecar's default (kept on the row when it was filled), or a key of the operator's `params`
JSON. bpy-free and duck-typed (plain objects in the unit tests). Thread rule: main thread (reads Blender data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .template_fields import row_changed, same_value

# The generate fields that become job inputs of the same name (`operators.generate.job_spec`).
INPUT_FIELDS = ("prompt", "negative_prompt", "width", "height", "frames", "steps", "seed")


def changed_scene_fields(settings: Any, names: Iterable[str] = INPUT_FIELDS) -> set[str]:
    """The Scene's generate fields whose value is not their RNA default (what the user changed in the panel)."""
    if settings is None:
        return set()
    properties = settings.bl_rna.properties
    out = set()
    for name in names:
        prop = properties.get(name) if hasattr(properties, "get") else None
        if prop is not None and not same_value(getattr(settings, name), prop.default):
            out.add(name)
    return out


def changed_rows(rows: Iterable[Any]) -> set[str]:
    """Template rows whose value is not the sidecar's default (an image row: any source but None); a row of
    unknown default is left open."""
    return {row.name for row in rows if row_changed(row)}


def script_params(text: str) -> set[str]:
    """The keys of the operator's `params` JSON (a script chose them); nothing when it is not a JSON object."""
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return set()
    return {str(k) for k in value} if isinstance(value, dict) else set()


def chosen_inputs(
    op_set: Iterable[str],
    scene_changed: Iterable[str],
    rows: Iterable[Any],
    params_text: str,
    inputs: dict[str, Any],
    template_inputs: Iterable[str] = (),
) -> list[str]:
    """The job's `chosen`: input keys the user set, among those the job sends. A template row's value replaces the
    generic field of the same name, so a generic field counts only where no template parameter took its place."""
    from_template = set(template_inputs)
    generic = (set(op_set) | {n for n in scene_changed if n not in from_template}) & set(INPUT_FIELDS)
    chosen = generic | changed_rows(rows) | script_params(params_text)
    return sorted(key for key in chosen if key in inputs)


def script_sources(op: Any) -> set[str]:
    """Image parameters a script gave a source (`sources` JSON, or `image_source` set on the operator)."""
    from .template_fields import parse_sources

    try:
        given = parse_sources(str(getattr(op, "sources", "") or ""))
        picked = {name for name, (source, _path, _image) in given.items() if source != "NONE"}
    except ValueError:
        picked = set()  # the operator refuses it with its own message before anything is sent
    if op.properties.is_property_set("image_source") and getattr(op, "image_source", "NONE") != "NONE":
        picked.add(str(getattr(op, "image_param", "") or "image"))
    return picked


def chosen_for_operator(
    op: Any, context: Any, rows: Iterable[Any], template_inputs: Iterable[str], inputs: dict[str, Any]
) -> list[str]:
    """`chosen_inputs` for the Generate operator `op` running in `context` (see the module docstring); `inputs`
    holds the job's inputs and its image parameters."""
    settings = getattr(context.scene, "genbridge", None)
    op_set = {name for name in INPUT_FIELDS if op.properties.is_property_set(name)}
    params_text = str(getattr(op, "params", "") or "")
    chosen = chosen_inputs(op_set, changed_scene_fields(settings), rows, params_text, inputs, template_inputs)
    return sorted(set(chosen) | {name for name in script_sources(op) if name in inputs})
