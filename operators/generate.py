"""Generate: snapshot the generate settings and the insertion point, then enqueue one job (returns at once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
from bpy.props import EnumProperty, StringProperty

from .. import blender
from ..blender.bpytypes import OperatorResult
from ..blender.choices import GENERATE_FIELDS, TEXT_TASKS, VIDEO_TASKS
from ..blender.chosen import chosen_for_operator
from ..blender.generate_props import with_generate_properties
from ..blender.template_fields import (
    apply_sources,
    capture_view,
    missing_required,
    parse_source_views,
    parse_sources,
    row_view,
    template_inputs,
    template_rows,
)
from .generate_modal import CaptureModal


def target_for(task: str, context: Any, name: str) -> dict[str, Any]:
    """Decide at enqueue time where the result lands: text block, Image Editor, or the Sequencer at the playhead."""
    scene = context.scene
    if task in TEXT_TASKS:
        return {"kind": "text", "name": name or "GenBridge Text"}
    space = getattr(context, "space_data", None)
    if task in VIDEO_TASKS or (space is not None and space.type == "SEQUENCE_EDITOR"):
        return {
            "kind": "movie_strip" if task in VIDEO_TASKS else "image_strip",
            "scene": scene.name,
            "channel": free_channel(scene, scene.frame_current),
            "frame_start": scene.frame_current,
            "name": name,
        }
    return {
        "kind": "image",
        "name": name,
        "scene": scene.name,
        "show_in_image_editor": space is not None and space.type == "IMAGE_EDITOR",
    }


def free_channel(scene: Any, frame: int) -> int:
    """The lowest channel with no strip at `frame`, so a result never lands on top of existing work."""
    editor = scene.sequence_editor
    if editor is None:
        return 1
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    used = {s.channel for s in strips if s.frame_final_start <= frame < s.frame_final_end}
    channel = 1
    while channel in used:
        channel += 1
    return channel


def job_spec(values: dict[str, Any], context: Any) -> dict[str, Any]:
    """The plain-data job spec for the runtime, from the generate values (a snapshot, never bpy objects)."""
    task = values["task"]
    inputs: dict[str, Any] = {"prompt": values["prompt"], "seed": values["seed"]}
    if task not in TEXT_TASKS:
        inputs.update(width=values["width"], height=values["height"], steps=values["steps"])
        if values["negative_prompt"]:
            inputs["negative_prompt"] = values["negative_prompt"]
    if task in VIDEO_TASKS:
        inputs["frames"] = values["frames"]
    return {
        "task": task,
        "inputs": inputs,
        "template": values["template"] or None,
        "requested_service": None if values["service"] == "AUTO" else values["service"],
        "target": target_for(task, context, values["result_name"]),
    }


def capture_options(source: str, values: dict[str, Any], image_name: str, context: Any) -> dict[str, Any]:
    """What `blender.capture.capture` needs for an image source, at the job's size."""
    size = {"width": values["width"], "height": values["height"]}
    if source in ("CAMERA", "PREVIEW"):
        return {"source": "camera", "engine": "WORKBENCH" if source == "PREVIEW" else "SCENE", **size}
    if source == "IMAGE_EDITOR":
        return {"source": "image_editor", "image": image_name or None}
    if source == "SEQUENCER":
        return {"source": "sequencer", **size}
    return {"source": source.lower(), **size}


def checked_view(param: str, view: dict[str, Any], scene: Any) -> dict[str, Any]:
    """A capture's camera and frame checked against the scene now (when the job is made, before anything renders):
    the camera must be a camera object, the frame is resolved to a number in the scene's range. Raises ValueError
    naming the parameter and what to change."""
    from ..blender.capture_common import CaptureError, find_camera, resolve_frame

    out = dict(view)
    try:
        if "camera" in view:
            find_camera(scene, view["camera"])
        if "frame" in view:
            out["frame"] = resolve_frame(scene, view["frame"])
    except CaptureError as exc:
        raise ValueError(f"'{param}': {exc}") from None
    return out


# Properties given explicitly (scripts, tests, keymaps) win over the Scene's panel settings: the same fields.
@with_generate_properties
class GENBRIDGE_OT_generate(CaptureModal):
    """Generate with the settings of the GenBridge panel"""

    bl_idname = "genbridge.generate"
    bl_label = "Generate"
    bl_description = (
        "Send a generation job with the GenBridge panel's settings to the best available service; "
        "the result lands in Blender when done"
    )
    # Only enqueues: nothing in Blender's data changes now, so there is nothing to undo.
    bl_options = {"REGISTER"}

    params: StringProperty(
        name="Template Parameters",
        description="The template's parameter values as a JSON object, e.g. {\"steps\": 30}; they win over the panel's",
        options={"SKIP_SAVE"},
    )
    sources: StringProperty(
        name="Image Sources",
        description=(
            'Where the template\'s image parameters come from, as a JSON object, e.g. {"image": "DEPTH"} or '
            '{"start_image": {"source": "FILE", "path": "//a.png"}} or {"end_image": {"source": "CAMERA", '
            '"camera": "CamB", "frame": "end"}} (frame: a number, current, start or end); they win over the panel\'s'
        ),
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context: Any) -> bool:
        if blender.current() is None:
            cls.poll_message_set("GenBridge is not enabled: enable it in Preferences > Add-ons")
            return False
        if context.scene is None:
            cls.poll_message_set("There is no scene to generate into")
            return False
        return True

    def gathered(self, context: Any) -> dict[str, Any]:
        settings = getattr(context.scene, "genbridge", None)
        return {
            name: getattr(self, name)
            if settings is None or self.properties.is_property_set(name)
            else getattr(settings, name)
            for name in GENERATE_FIELDS
        }

    def template_values(self, context: Any, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list]:
        """(inputs, image sources, rows) of the chosen template: the Scene's parameter rows when they describe the
        template being sent, overlaid by the operator's `params` and `sources` JSON and an explicitly given
        `image_source` (scripts, keymaps; F3 sends the panel's settings). Raises ValueError."""
        settings = getattr(context.scene, "genbridge", None)
        rows = template_rows(settings) if settings is not None else []
        if rows and getattr(settings, "params_template", "") != values["template"].strip():
            rows = []  # a script sent another template: the panel's rows are not its parameters
        overrides: dict[str, Any] = {}
        if self.params.strip():
            try:
                overrides = json.loads(self.params)
            except ValueError as exc:
                raise ValueError(f"'params' must be a JSON object of parameter values ({exc})") from exc
            if not isinstance(overrides, dict):
                raise ValueError("'params' must be a JSON object, e.g. {\"steps\": 30}")
        inputs, images = template_inputs(rows, overrides)
        chosen = parse_sources(self.sources)
        generic = (values["image_source"], values["image_path"], values["image_name"])
        # The single-image fields feed a template with no rows in the panel; given explicitly (scripts, keymaps)
        # they win over the panel's rows too. `sources` and `params` win over both.
        param = values["image_param"] or "image"
        given = self.properties.is_property_set("image_source")
        if param not in overrides and ((not rows and generic[0] != "NONE") or (rows and given)):
            chosen.setdefault(param, generic)
        clash = sorted(set(chosen) & set(overrides))
        if clash:
            raise ValueError(f"Give {', '.join(clash)} in 'params' or in 'sources', not in both")
        return inputs, apply_sources(images, chosen, rows), rows

    def capture_views(self, rows: list[Any], sources: dict[str, tuple[str, str, str]], scene: Any) -> dict[str, Any]:
        """Each capture's camera / frame options: the panel row's, with the `sources` JSON's keys winning (see
        `template_fields.capture_view`), checked against the scene. Raises ValueError."""
        panel = {row.name: row_view(row) for row in rows if row.kind == "image"}
        given = parse_source_views(self.sources)
        names = [*panel, *sources]
        views = {}
        for param, (source, _path, _image) in sources.items():
            view = capture_view(param, source, panel.get(param), given.get(param), names)
            views[param] = checked_view(param, view, scene)
        return views

    def request(self, context: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
        """(job spec, captures to make `{param: {"source": ..., options}}`) from the settings, or None after
        reporting what to fix."""
        values = self.gathered(context)
        try:
            extra, images, rows = self.template_values(context, values)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        spec = job_spec(values, context)
        spec["inputs"].update(extra)
        spec["chosen"] = chosen_for_operator(self, context, rows, extra, {**spec["inputs"], **images})
        missing = missing_required(rows, extra, images) if rows else []
        if missing:
            self.report({"ERROR"}, f"Fill in {', '.join(missing)} first: the template needs them")
            return None
        if not rows and not str(spec["inputs"].get("prompt", "")).strip():
            self.report({"ERROR"}, "Write a prompt first: GenBridge has nothing to generate from")
            return None
        sources: dict[str, tuple[str, str, str]] = dict(images)
        try:
            views = self.capture_views(rows, sources, context.scene)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        size = {**values, **{k: spec["inputs"][k] for k in ("width", "height") if k in spec["inputs"]}}
        captures: dict[str, dict[str, Any]] = {}
        for param, (source, file_path, image_name) in sources.items():
            if source == "FILE":
                path = bpy.path.abspath(file_path)
                if not file_path or not Path(path).is_file():
                    self.report({"ERROR"}, f"Choose an image file for '{param}' (not found: {path or 'none'})")
                    return None
                spec["inputs"][param] = path
            else:
                captures[param] = {**capture_options(source, size, image_name, context), **views[param]}
        return spec, captures

    def execute(self, context: Any) -> OperatorResult:
        """Scripts, the bpy module, redo: captures block (see blender/capture.py), then the job is queued."""
        request = self.request(context)
        if request is None:
            return {"CANCELLED"}
        spec, captures = request
        if captures:
            from ..blender.capture import CaptureError

            try:
                job_id = blender.running().submit_with_captures(spec, captures)
            except CaptureError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            return self.queued(job_id, captures)
        job_id = blender.running().submit(spec)
        self.report({"INFO"}, f"GenBridge job {job_id[:8]} queued")
        return {"FINISHED"}


_TEMPLATE_ITEMS: list[tuple[str, str, str]] = []  # Blender needs the item strings kept alive while shown


def _template_items(_self: Any, _context: Any) -> list[tuple[str, str, str]]:
    """Every template's name (bundled and the user's folders), listed when the search opens (a user action)."""
    from ..workflows.panel_params import template_names

    session = blender.current()
    dirs = session.template_dirs() if session is not None else []
    _TEMPLATE_ITEMS[:] = [(name, name, f"From {where}") for name, where in template_names(dirs)]
    return _TEMPLATE_ITEMS


class GENBRIDGE_OT_pick_template(bpy.types.Operator):
    """Search the workflow templates (bundled and your template folders) and use one for Generate"""

    bl_idname = "genbridge.pick_template"
    bl_label = "Pick Template"
    bl_property = "template"
    bl_options = {"REGISTER", "UNDO"}  # it changes the Scene's settings

    template: EnumProperty(name="Template", items=_template_items)

    @classmethod
    def poll(cls, context: Any) -> bool:
        return getattr(context.scene, "genbridge", None) is not None

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: Any) -> OperatorResult:
        # Setting the field loads the template's parameters (its update callback), also when it is the same one
        # again: a way to re-read a sidecar the user just edited.
        context.scene.genbridge.template = self.template
        return {"FINISHED"}


CLASSES = (GENBRIDGE_OT_generate, GENBRIDGE_OT_pick_template)
