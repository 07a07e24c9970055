"""Properties the panels draw: generate settings on the Scene (saved with the .blend, never keys) and the job
list rows on the WindowManager (session-only; each row names a job in the session's plain-data cache)."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import PropertyGroup

from ..blender.choices import GENERATE, IMAGE_FRAMES, IMAGE_SOURCES
from ..blender.chosen import changed_scene_fields
from ..blender.generate_props import with_generate_properties
from ..blender.template_fields import GENERIC_NAMES, at_default, clamp_int, fill, load_memory, remember, remembered

_CHOICE_ITEMS: dict[str, list[tuple[str, str, str, str, int]]] = {}  # Blender needs the item strings kept alive


def _choice_items(row: Any, _context: Any) -> list[tuple[str, str, str, str, int]]:
    key = row.choices
    if key not in _CHOICE_ITEMS:
        _CHOICE_ITEMS[key] = [(c, c, "", "", i) for i, c in enumerate(key.split("\n") if key else [])]
    return _CHOICE_ITEMS[key] or [("", "(no choices)", "", "", 0)]


def _choice_get(row: Any) -> int:
    choices = row.choices.split("\n") if row.choices else []
    return choices.index(row.string_value) if row.string_value in choices else 0


def _choice_set(row: Any, index: int) -> None:
    choices = row.choices.split("\n") if row.choices else []
    if 0 <= index < len(choices):
        row.string_value = choices[index]


def _clamp_int(row: Any, _context: Any) -> None:
    """Keep an int within the sidecar's range (one property serves every row, so its limits are checked here)."""
    low = -1 if row.kind == "seed" else (row.int_min if row.has_min else None)
    value = clamp_int(row.int_value, low, row.int_max if row.has_max else None)
    if value != row.int_value:
        row.int_value = value


def _clamp_float(row: Any, _context: Any) -> None:
    value = row.float_value
    if row.has_min and value < row.float_min:
        row.float_value = row.float_min
    elif row.has_max and value > row.float_max:
        row.float_value = row.float_max


def _is_camera(_row: Any, obj: Any) -> bool:
    return bool(obj.type == "CAMERA")


class GENBRIDGE_PG_param(PropertyGroup):
    """One parameter of the chosen template (from its sidecar): its kind and one value field per value type."""

    name: StringProperty(name="Parameter")
    kind: StringProperty(name="Kind")  # workflows.panel_params.KINDS
    description: StringProperty(name="Description")
    required: BoolProperty(name="Required")
    string_value: StringProperty(name="Value")
    int_value: IntProperty(name="Value", update=_clamp_int)
    int_min: IntProperty()
    int_max: IntProperty()
    float_value: FloatProperty(name="Value", update=_clamp_float)
    float_min: FloatProperty()
    float_max: FloatProperty()
    has_min: BoolProperty()
    has_max: BoolProperty()
    choices: StringProperty()  # newline-separated
    value_type: StringProperty(default="string")  # the sidecar's type (numbers chosen from a list stay numbers)
    choice: EnumProperty(name="Value", items=_choice_items, get=_choice_get, set=_choice_set)
    image_source: EnumProperty(name="Source", items=IMAGE_SOURCES, default="NONE")
    image_path: StringProperty(name="File", subtype="FILE_PATH")
    image_name: StringProperty(name="Image")
    # Scene captures: the camera to render (empty: the scene's active camera at that frame) and the frame. An
    # image row's frame starts at Scene Start / Scene End for a first-last-frame template (`template_fields.fill`).
    image_camera: PointerProperty(
        name="Camera",
        type=bpy.types.Object,
        poll=_is_camera,
        description="The camera to render (empty: the scene's active camera at that frame)",
    )
    image_frame: EnumProperty(name="Frame", items=IMAGE_FRAMES, default="CURRENT")
    image_frame_number: IntProperty(name="Frame Number", default=1, description="The frame to render")
    default_json: StringProperty()  # the sidecar's default as JSON: a value that differs was chosen by the user


def template_changed(settings: Any, _context: Any) -> None:
    """The template field changed: load its parameters into the rows (keeping same-named values). A user action,
    so reading the small sidecar here is fine; Panel.draw only reads the rows."""
    from .. import blender
    from ..workflows.panel_params import ParamsUnreadable, read_panel_params, template_names

    session = blender.current()
    dirs = session.template_dirs() if session is not None else []
    name = settings.template.strip()
    kept = remembered(settings.params)
    dropped = at_default(settings.params)  # put back to the default: an older value must not come back
    # Only generic fields the user changed (a template's own default beats the panel's untouched 832 or 20).
    generic = {field: getattr(settings, field) for field in changed_scene_fields(settings, GENERIC_NAMES)}
    if not settings.params:
        # Leaving the generic fields (no template): what they show now is newer than any remembered value.
        dropped |= set(GENERIC_NAMES)
    memory = {name: entry for name, entry in load_memory(settings.params_memory).items() if name not in dropped}
    settings.params_memory = remember(memory, kept)  # every name's latest value, for a later switch back
    try:
        params = read_panel_params(name, dirs) if name else []
        settings.params_error = ""
        if name and not params and not name.endswith(".json") and name not in dict(template_names(dirs)):
            settings.params_error = (
                f'There is no template called "{name}" in the bundled or your template folders: '
                "pick one with the search button, or add its folder in the preferences."
            )
    except ParamsUnreadable as exc:
        params = []
        settings.params_error = str(exc)
    fill(settings.params, params, kept, generic, memory)
    settings.params_template = name if params else ""


@with_generate_properties  # task, prompts, template, size, frames, steps, seed, service, image input
class GENBRIDGE_PG_generate(PropertyGroup):
    """What the Generate button sends (the fields of `blender.choices.GENERATE`), saved with the .blend, and the
    chosen template's parameter rows."""

    params: CollectionProperty(type=GENBRIDGE_PG_param)
    params_template: StringProperty()  # the template the rows describe ("" when none)
    params_error: StringProperty()  # why the template's parameters could not be read
    # Every parameter name's latest value across the templates used (JSON {name: [kind, value]}), so switching
    # A -> B -> A gives A back the values B did not have. Plain data saved with the .blend; never keys.
    params_memory: StringProperty(options={"HIDDEN"})


# The Scene's template field loads the template's parameters when it changes (the operator's own field does not).
_TEMPLATE = next(field for field in GENERATE if field.name == "template")
GENBRIDGE_PG_generate.__annotations__["template"] = StringProperty(  # type: ignore[func-returns-value]
    name=_TEMPLATE.label, description=_TEMPLATE.description, update=template_changed
)


class GENBRIDGE_PG_job_row(PropertyGroup):
    """One row of the job list: only the job id; everything else comes from the session's cache at draw time."""

    job_id: StringProperty(name="Job ID")


CLASSES = (GENBRIDGE_PG_param, GENBRIDGE_PG_generate, GENBRIDGE_PG_job_row)


def register() -> None:
    # Properties added at runtime (unknown to the stubs, whose property functions claim to return None).
    bpy.types.Scene.genbridge = PointerProperty(type=GENBRIDGE_PG_generate)  # type: ignore[attr-defined,func-returns-value]
    wm = bpy.types.WindowManager
    wm.genbridge_jobs = CollectionProperty(type=GENBRIDGE_PG_job_row)  # type: ignore[attr-defined,func-returns-value]
    wm.genbridge_job_index = IntProperty(  # type: ignore[attr-defined,func-returns-value]
        name="Active Job", default=0, min=0
    )


def unregister() -> None:
    for owner, name in (
        (bpy.types.WindowManager, "genbridge_job_index"),
        (bpy.types.WindowManager, "genbridge_jobs"),
        (bpy.types.Scene, "genbridge"),
    ):
        if hasattr(owner, name):
            delattr(owner, name)
