"""The chosen template's parameters as panel fields: fill the Scene's field rows, read them back as job inputs.

bpy-free (the rows are duck-typed: a Blender CollectionProperty of `GENBRIDGE_PG_param`, or plain objects in
tests), stdlib only, so unit tests cover it without Blender. Thread rule: main thread (it edits Blender data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from ..workflows.panel_params import PanelParam
from .choices import CAMERA_SOURCES, FRAME_SOURCES, IMAGE_SOURCES

# Which value field of a row holds each kind's value (one field per value type, shared by related kinds, so a
# value survives a template switch that turns a "string" into a "prompt" of the same name).
VALUE_ATTR = {
    "string": "string_value",
    "prompt": "string_value",
    "choice": "string_value",
    "int": "int_value",
    "seed": "int_value",
    "float": "float_value",
}
INT_LIMIT = 2**31 - 1  # Blender's IntProperty is 32-bit; a sidecar's 64-bit seed range is cut to it
IMAGE_ATTRS = ("image_source", "image_path", "image_name")
# The generic fields of the Generate section whose values a template's same-named parameter starts from.
GENERIC_NAMES = ("prompt", "negative_prompt", "width", "height", "steps", "seed", "frames")
# The per-name memory of parameter values (the Scene's `params_memory`, JSON) keeps at most this many names, the
# most recently used last: templates share names, so a few hundred cover every template a user switches between.
MEMORY_LIMIT = 256
MEMORY_KINDS = frozenset({*VALUE_ATTR, "image"})


def template_rows(settings: Any) -> list[Any]:
    """The chosen template's parameter rows, when they describe the template in the field (else [])."""
    template = str(getattr(settings, "template", "") or "").strip()
    rows = getattr(settings, "params", None)
    if not template or rows is None or getattr(settings, "params_template", "") != template:
        return []
    return list(rows)


def missing_required(rows: Any, inputs: dict[str, Any], images: dict[str, Any]) -> list[str]:
    """Names of required parameters left empty (an image with no source, a blank text)."""
    return [
        row.name
        for row in rows
        if row.required and (row.name not in images if row.kind == "image" else str(inputs.get(row.name, "")) == "")
    ]


def clamp_int(value: float, low: float | None, high: float | None) -> int:
    """`value` within the sidecar's range (and Blender's 32-bit int)."""
    low_i = max(int(low), -INT_LIMIT) if low is not None else -INT_LIMIT
    high_i = min(int(high), INT_LIMIT) if high is not None else INT_LIMIT
    return min(max(int(value), low_i), high_i)


def same_value(a: Any, b: Any) -> bool:
    """Equal as the panel shows them: Blender stores floats in 32 bits (0.6 reads back as 0.6000000238)."""
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def row_changed(row: Any) -> bool | None:
    """Whether the user changed a row from the sidecar's default (an image row: any source but None); None when
    unknown (a row filled before defaults were kept on it)."""
    if row.kind == "image":
        return bool(row.image_source != "NONE")
    stored = getattr(row, "default_json", "")
    if not stored:
        return None
    try:
        default = json.loads(stored)
    except ValueError:
        return None
    return not same_value(row_value(row), default)


def remembered(rows: Any) -> dict[str, tuple[str, Any]]:
    """Each row's name -> (kind, value) (an image row's value is its source, path and image), to keep on a switch:
    only values the user set (a row still at its sidecar's default says nothing the next template should take)."""
    out: dict[str, tuple[str, Any]] = {}
    for row in rows:
        if row_changed(row) is False:
            continue
        if row.kind == "image":
            out[row.name] = ("image", tuple(getattr(row, attr) for attr in IMAGE_ATTRS))
        elif row.kind in VALUE_ATTR:
            out[row.name] = (row.kind, getattr(row, VALUE_ATTR[row.kind]))
    return out


def at_default(rows: Any) -> set[str]:
    """Names of the rows the user left at (or put back to) the sidecar's default: their older memory is dropped."""
    return {row.name for row in rows if row_changed(row) is False}


def load_memory(text: str) -> dict[str, tuple[str, Any]]:
    """The Scene's per-name memory (JSON `{name: [kind, value]}`); anything damaged or foreign is left out."""
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return {}
    out: dict[str, tuple[str, Any]] = {}
    for name, entry in raw.items() if isinstance(raw, dict) else ():
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in MEMORY_KINDS):
            continue
        kind, value = entry
        if kind == "image":
            if isinstance(value, list) and len(value) == len(IMAGE_ATTRS) and all(isinstance(v, str) for v in value):
                out[str(name)] = (kind, tuple(value))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            out[str(name)] = (kind, value)
    return out


def remember(memory: dict[str, tuple[str, Any]], values: dict[str, tuple[str, Any]]) -> str:
    """The memory with `values` (the rows being left) written in, most recent last, as the JSON to store."""
    merged = {name: entry for name, entry in memory.items() if name not in values}
    merged.update(values)
    kept = list(merged.items())[-MEMORY_LIMIT:]
    return json.dumps({name: [kind, list(value) if kind == "image" else value] for name, (kind, value) in kept})


def _fits(param: PanelParam, entry: tuple[str, Any] | None) -> bool:
    if entry is None:
        return False
    kind, value = entry
    if param.kind == "image" or kind == "image":
        return param.kind == kind
    return VALUE_ATTR.get(kind) == VALUE_ATTR[param.kind] and (param.kind != "choice" or value in param.choices)


def start_value(
    param: PanelParam,
    kept: dict[str, tuple[str, Any]],
    generic: dict[str, Any],
    memory: dict[str, tuple[str, Any]] | None = None,
) -> Any:
    """A new row's value: the same-named value of the template being left if it fits, else the last value this
    name had in any earlier template (`memory`: A -> B -> A gives A its values back), else the generic field's,
    else the sidecar's default."""
    for source in (kept, memory or {}):
        entry = source.get(param.name)
        if _fits(param, entry):
            assert entry is not None
            return entry[1]
    if param.kind != "image" and param.name in generic:
        value = generic[param.name]
        if isinstance(value, type(default_value(param))) or param.kind == "float":
            return value
    return default_value(param)


def default_value(param: PanelParam) -> Any:
    if param.kind == "image":
        return ("NONE", "", "")
    if param.kind in ("int", "seed"):
        return int(param.default) if isinstance(param.default, (int, float)) else (-1 if param.kind == "seed" else 0)
    if param.kind == "float":
        return float(param.default) if isinstance(param.default, (int, float)) else 0.0
    if param.kind == "choice":
        return str(param.default) if param.default is not None else (param.choices[0] if param.choices else "")
    return "" if param.default is None else str(param.default)


def row_default(param: PanelParam) -> Any:
    """The sidecar's default as the row would send it (within the row's range); None for an image."""
    value = default_value(param)
    if param.kind == "image":
        return None
    if param.kind in ("int", "seed"):
        return clamp_int(value, -1 if param.kind == "seed" else param.min, param.max)
    if param.kind == "float":
        low = param.min if param.min is not None else -math.inf
        high = param.max if param.max is not None else math.inf
        return min(max(float(value), low), high)
    if param.kind == "choice" and param.value_type in ("int", "float"):
        try:  # sent as the number (see `row_value`), so compared as one
            return int(value) if param.value_type == "int" else float(value)
        except ValueError:
            return value
    return value


def fill(
    rows: Any,
    params: list[PanelParam],
    kept: dict[str, tuple[str, Any]],
    generic: dict[str, Any],
    memory: dict[str, tuple[str, Any]] | None = None,
) -> None:
    """Replace `rows` by one row per parameter, values from `start_value` (an image row's frame from
    `default_frame`; its camera starts empty = the scene's active camera)."""
    image_names = [param.name for param in params if param.kind == "image"]
    rows.clear()
    for param in params:
        row = rows.add()
        row.name = param.name
        row.kind = param.kind
        row.description = param.description
        row.required = param.required
        row.choices = "\n".join(param.choices)
        row.value_type = param.value_type
        row.has_min, row.has_max = param.min is not None, param.max is not None
        value = start_value(param, kept, generic, memory)
        row.default_json = json.dumps(row_default(param))  # what "unchanged" means for `blender.chosen`
        if param.kind == "image":
            for attr, item in zip(IMAGE_ATTRS, value, strict=True):
                setattr(row, attr, item)
            row.image_frame = default_frame(param.name, image_names)
        elif param.kind in ("int", "seed"):
            row.int_min = clamp_int(param.min if param.min is not None else -INT_LIMIT, None, None)
            row.int_max = clamp_int(param.max if param.max is not None else INT_LIMIT, None, None)
            # A seed of -1 means "random" even when the sidecar's range starts at 0.
            low = -1 if param.kind == "seed" else param.min
            row.int_value = clamp_int(value, low, param.max)
        elif param.kind == "float":
            row.float_min = float(param.min) if param.min is not None else 0.0
            row.float_max = float(param.max) if param.max is not None else 0.0
            row.float_value = float(value)
        else:
            row.string_value = str(value)


def row_value(row: Any) -> Any:
    """A non-image row's value as the job input (ints clamped to the row's range; seed -1 stays random)."""
    if row.kind in ("int", "seed"):
        low = -1 if row.kind == "seed" else (row.int_min if row.has_min else None)
        return clamp_int(row.int_value, low, row.int_max if row.has_max else None)
    if row.kind == "float":
        value = float(row.float_value)
        if row.has_min:
            value = max(value, row.float_min)
        if row.has_max:
            value = min(value, row.float_max)
        return value
    text = str(getattr(row, VALUE_ATTR.get(row.kind, "string_value")))
    if row.kind == "choice" and getattr(row, "value_type", "string") in ("int", "float"):
        try:  # a choice among numbers is sent as the number the template expects
            return int(text) if row.value_type == "int" else float(text)
        except ValueError:
            return text  # the template's own check names it
    return text


def template_inputs(rows: Any, overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain inputs, image rows' {name: (source, path, image name)}) from the rows; `overrides` (a script's
    values) win. An empty optional text is left out so the template's own default applies."""
    inputs: dict[str, Any] = {}
    images: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        if row.kind == "image":
            source = (row.image_source, row.image_path, row.image_name)
            if source[0] != "NONE":
                images[row.name] = source
            continue
        value = row_value(row)
        if value == "" and not row.required:
            continue
        inputs[row.name] = value
    for name, value in (overrides or {}).items():
        images.pop(name, None)
        inputs[name] = value
    return inputs, images


def default_frame(name: str, image_names: Iterable[str]) -> str:
    """The frame an image parameter is captured at unless the user picks another (a row's `image_frame` id).

    Decided so that first-last-frame from the scene needs no setup: in a template with an `end_image` parameter
    (the bundled `wan21_flf2v`, and any user template that names its last frame so), `end_image` is captured at the
    scene's last frame ("END") and `start_image` at its first ("START"): an animated camera or blocking gives the
    move between them. Everything else (image-to-image, image-to-video's lone `start_image`, references) is
    captured at the current frame, as an F12 render would be."""
    if "end_image" in set(image_names):
        return {"end_image": "END", "start_image": "START"}.get(name, "CURRENT")
    return "CURRENT"


def row_view(row: Any) -> dict[str, Any]:
    """An image row's camera (its name; "" = the scene's active camera) and frame ("current", "start", "end" or a
    frame number), as the `sources` JSON writes them."""
    camera = getattr(row, "image_camera", None)
    choice = str(getattr(row, "image_frame", "CURRENT") or "CURRENT")
    frame: Any = int(getattr(row, "image_frame_number", 1)) if choice == "NUMBER" else choice.lower()
    return {"camera": getattr(camera, "name", "") if camera is not None else "", "frame": frame}


def capture_view(
    param: str,
    source: str,
    panel: dict[str, Any] | None,
    given: dict[str, Any] | None,
    image_names: Iterable[str],
) -> dict[str, Any]:
    """The camera / frame options of one capture (`camera`: a name, `frame`: a number, "start" or "end"; left out
    for the active camera and the current frame): the panel row's (`row_view`), else `default_frame`, with the
    script's `sources` keys (`given`) winning. Only what the source uses: a camera for camera renders and passes,
    a frame for those, the viewport and the Sequencer."""
    view: dict[str, Any] = {"camera": "", "frame": default_frame(param, [*image_names, param]).lower()}
    view.update(panel or {})
    view.update(given or {})
    out: dict[str, Any] = {}
    if source in CAMERA_SOURCES and view.get("camera"):
        out["camera"] = str(view["camera"])
    frame = view.get("frame")
    if source in FRAME_SOURCES and frame not in (None, "", "current"):
        out["frame"] = frame
    return out


SOURCE_IDS = tuple(key for key, _title, _description in IMAGE_SOURCES)
_SOURCE_KEYS = {"source", "path", "image", "camera", "frame"}
_FRAME_WORDS = ("current", "start", "end")
MAX_FRAME = 1048574  # Blender's MAXFRAME: no scene has a frame beyond it
MAX_SOURCES_CHARS = 64 * 1024  # a few sources with paths; more is not a hand-written value


def parse_sources(text: str) -> dict[str, tuple[str, str, str]]:
    """The operator's `sources` JSON (scripts, keymaps, add-ons) as {param: (source, file path, image name)}.

    Each value is a source id (`{"image": "DEPTH"}`, any case) or an object with it and what it needs
    (`{"start_image": {"source": "FILE", "path": "//first.png"}}`, `{"image": {"source": "IMAGE_EDITOR",
    "image": "Render Result"}}`, `{"end_image": {"source": "CAMERA", "camera": "CamB", "frame": "end"}}`: see
    `parse_source_views`); "NONE" takes a panel's source away. Raises ValueError saying what to write."""
    return _parse_sources(text)[0]


def parse_source_views(text: str) -> dict[str, dict[str, Any]]:
    """The `camera` and `frame` keys of the `sources` JSON, per parameter that gives any: `camera` names a camera
    object (camera renders and passes), `frame` is a frame number or "current", "start", "end" (any case; camera
    renders, passes, viewport, Sequencer). Whether the camera exists and the frame lies in the scene's range is
    checked against the scene when the job is made. Raises ValueError as `parse_sources` does."""
    return _parse_sources(text)[1]


def _parse_sources(text: str) -> tuple[dict[str, tuple[str, str, str]], dict[str, dict[str, Any]]]:
    if not text.strip():
        return {}, {}
    example = '{"image": "DEPTH"}'
    if len(text) > MAX_SOURCES_CHARS:
        raise ValueError(f"'sources' is {len(text)} characters long; name a few image sources, e.g. {example}")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:  # a deeply nested text ends in RecursionError
        raise ValueError(f"'sources' must be a JSON object of image sources, e.g. {example} ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"'sources' must be a JSON object of image sources, e.g. {example}")
    chosen: dict[str, tuple[str, str, str]] = {}
    views: dict[str, dict[str, Any]] = {}
    for param, value in raw.items():
        spec = value if isinstance(value, dict) else {"source": value}
        where = f"'sources' for '{param[:40]}'"
        unknown = sorted(set(spec) - _SOURCE_KEYS)
        if unknown:
            raise ValueError(
                f"{where}: unknown key {', '.join(k[:40] for k in unknown)} (use source, and path for File, image "
                "for Image Editor, camera and frame for scene captures)"
            )
        given = spec.get("source")
        source = given.upper() if isinstance(given, str) else ""
        if source not in SOURCE_IDS:
            raise ValueError(f"{where}: {str(given)[:40]!r} is no image source; use one of {', '.join(SOURCE_IDS)}")
        if source == "FILE" and not str(spec.get("path") or "").strip():
            raise ValueError(f'{where}: a File source needs its path, e.g. {{"source": "FILE", "path": "//input.png"}}')
        chosen[str(param)] = (source, str(spec.get("path") or ""), str(spec.get("image") or ""))
        view = _view_keys(where, source, spec)
        if view:
            views[str(param)] = view
    return chosen, views


def _view_keys(where: str, source: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The checked `camera` / `frame` keys of one `sources` entry."""
    view: dict[str, Any] = {}
    if "camera" in spec:
        camera = spec["camera"]
        if source not in CAMERA_SOURCES:
            raise ValueError(
                f"{where}: a camera is chosen only for {', '.join(sorted(CAMERA_SOURCES))}, not for {source}"
            )
        if not isinstance(camera, str) or not camera.strip():
            raise ValueError(f'{where}: "camera" is the name of a camera object, e.g. "Camera"')
        view["camera"] = camera
    if "frame" in spec:
        frame = spec["frame"]
        if source not in FRAME_SOURCES:
            raise ValueError(f"{where}: a frame is chosen only for {', '.join(sorted(FRAME_SOURCES))}, not {source}")
        if isinstance(frame, str) and frame.strip().lower() in _FRAME_WORDS:
            frame = frame.strip().lower()
        elif isinstance(frame, str) and frame.strip().lstrip("-").isdigit() and len(frame.strip()) <= 8:
            frame = int(frame)
        elif isinstance(frame, bool) or not isinstance(frame, int):
            raise ValueError(
                f'{where}: "frame" is a frame number or one of {", ".join(_FRAME_WORDS)}, not {str(frame)[:40]!r}'
            )
        if isinstance(frame, int) and abs(frame) > MAX_FRAME:
            shown = str(frame) if len(str(frame)) <= 12 else str(frame)[:12] + "..."
            raise ValueError(f"{where}: frame {shown} is beyond Blender's frames -{MAX_FRAME}..{MAX_FRAME}")
        view["frame"] = frame
    return view


def apply_sources(
    images: dict[str, tuple[str, str, str]], chosen: dict[str, tuple[str, str, str]], rows: Any = ()
) -> dict[str, tuple[str, str, str]]:
    """The panel's image sources with the explicitly chosen ones winning ("NONE" removes one). With the template's
    rows known, a name that is not one of its image parameters is refused (ValueError naming them)."""
    image_params = [row.name for row in rows if row.kind == "image"]
    if rows:
        strangers = sorted(name for name in chosen if name not in image_params)
        if strangers:
            have = ", ".join(image_params) or "none"
            raise ValueError(
                f"The template has no image parameter {', '.join(strangers)} (its image parameters: {have})"
            )
    merged = dict(images)
    for name, source in chosen.items():
        if source[0] == "NONE":
            merged.pop(name, None)
        else:
            merged[name] = source
    return merged
