"""The job's `chosen` from Blender's Generate (no Blender): operator properties set, Scene fields changed from their
RNA default, template rows changed from the sidecar's default, and the script's `params` keys."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.blender.chosen import changed_rows, changed_scene_fields, chosen_inputs, script_params
from genbridge.blender.template_fields import fill, same_value
from genbridge.workflows.panel_params import read_panel_params

from .test_template_fields import Rows


def filled(template: str) -> dict:
    rows = Rows()
    fill(rows, read_panel_params(template), {}, {})
    return rows, {row.name: row for row in rows}


def test_rows_at_their_sidecar_defaults_are_not_chosen_even_after_float32_rounding():
    rows, by_name = filled("sd15_img2img")
    by_name["strength"].float_value = 0.6000000238418579  # Blender's 32-bit float of the default 0.6
    for row in rows:
        if row.kind == "image":
            row.image_source = "NONE"
    assert changed_rows(rows) == set()


def test_rows_the_user_changed_are_chosen():
    rows, by_name = filled("sd15_img2img")
    for row in rows:
        if row.kind == "image":
            row.image_source = "NONE"
    by_name["steps"].int_value = 31
    by_name["strength"].float_value = 0.35
    by_name["sampler"].string_value = "heun"
    by_name["image"].image_source = "CAMERA"
    assert changed_rows(rows) == {"steps", "strength", "sampler", "image"}


def test_a_row_without_a_stored_default_is_left_open():
    row = SimpleNamespace(name="steps", kind="int", int_value=5, has_min=False, has_max=False, default_json="")
    assert changed_rows([row]) == set()


class _Props(dict):
    def get(self, name, default=None):
        return super().get(name, default)


def test_scene_fields_that_differ_from_the_rna_default_are_chosen():
    defaults = {"prompt": "", "width": 832, "height": 480, "steps": 20, "seed": -1, "frames": 33}
    rna = SimpleNamespace(properties=_Props({k: SimpleNamespace(default=v) for k, v in defaults.items()}))
    settings = SimpleNamespace(bl_rna=rna, prompt="a fox", width=832, height=512, steps=20, seed=-1, frames=81)
    assert changed_scene_fields(settings) == {"prompt", "height", "frames"}
    assert changed_scene_fields(None) == set()


def test_chosen_keeps_only_sent_inputs_and_lets_template_rows_replace_generic_fields():
    inputs = {"prompt": "p", "width": 832, "height": 512, "steps": 30, "cfg": 7.0}
    chosen = chosen_inputs(
        op_set={"steps"},
        scene_changed={"height", "frames", "width"},  # frames is not sent (an image task); width comes from a row
        rows=[],
        params_text='{"cfg": 7.0}',
        inputs=inputs,
        template_inputs={"width"},
    )
    assert chosen == ["cfg", "height", "steps"]


def test_script_params_and_float_comparison():
    assert script_params('{"steps": 3, "cfg": 2}') == {"steps", "cfg"}
    assert script_params("[1]") == set() and script_params("{bad") == set() and script_params("") == set()
    assert same_value(0.6000000238418579, 0.6) and not same_value(0.35, 0.6) and same_value(20, 20)
    assert not same_value("a", 1.0)
