"""The Generate section built from the chosen template: one typed field per parameter kind, drawn from the rows."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.ui.draw import draw_generate


def row(name, kind, **values):
    base = dict(
        name=name,
        kind=kind,
        description="",
        required=False,
        string_value="",
        int_value=0,
        int_min=0,
        int_max=0,
        has_min=False,
        has_max=False,
        float_value=0.0,
        float_min=0.0,
        float_max=0.0,
        choices="",
        image_source="NONE",
        image_path="",
        image_name="",
    )
    return SimpleNamespace(**{**base, **values})


def settings_with(rows, template="my_tpl", described="my_tpl", error=""):
    return SimpleNamespace(task="image", template=template, params=rows, params_template=described, params_error=error)


def prop_calls(layout):
    """(owner, property, text) of every prop call."""
    return [(args[0], args[1], kwargs.get("text")) for args, kwargs in layout.calls("prop")]


def test_every_kind_gets_its_typed_field(layout):
    rows = [
        row("prompt", "prompt", required=True),
        row("checkpoint", "string"),
        row("steps", "int", int_min=1, int_max=150, has_min=True, has_max=True),
        row("cfg", "float"),
        row("sampler", "choice", choices="euler\nheun", string_value="heun"),
        row("seed", "seed", int_value=-1),
        row("image", "image", image_source="DEPTH"),
    ]
    draw_generate(layout, settings_with(rows))
    calls = {(id(owner), prop): text for owner, prop, text in prop_calls(layout)}
    by = {r.name: r for r in rows}
    assert calls[(id(by["prompt"]), "string_value")] == ""  # full width under its own label
    assert "Prompt *" in layout.labels()  # required marked
    assert calls[(id(by["checkpoint"]), "string_value")] == "Checkpoint"
    assert calls[(id(by["steps"]), "int_value")] == "Steps (1..150)"  # the range is shown
    assert calls[(id(by["cfg"]), "float_value")] == "Cfg"
    assert calls[(id(by["sampler"]), "choice")] == "Sampler"
    assert calls[(id(by["seed"]), "int_value")] == "Seed"
    assert calls[(id(by["image"]), "image_source")] == "Image"
    # The generic fields the template replaces are not drawn twice.
    generic_props = [prop for owner, prop, _ in prop_calls(layout) if owner not in rows]
    assert not {"prompt", "negative_prompt", "width", "steps", "seed", "image_source"} & set(generic_props)
    assert "genbridge.generate" in layout.operators()


def test_a_seed_says_whether_it_is_random(layout):
    draw_generate(layout, settings_with([row("seed", "seed", int_value=-1)]))
    assert ("label", (), {"text": "", "icon": "QUESTION"}) in layout.log
    fixed = type(layout)()
    draw_generate(fixed, settings_with([row("seed", "seed", int_value=7)]))
    assert ("label", (), {"text": "", "icon": "LOCKED"}) in fixed.log


def test_image_source_picker_shows_what_each_source_needs(layout):
    file_row = row("image", "image", image_source="FILE")
    editor_row = row("reference_image", "image", image_source="IMAGE_EDITOR")
    depth_row = row("start_image", "image", image_source="DEPTH")
    draw_generate(layout, settings_with([file_row, editor_row, depth_row]))
    props = [(owner, prop) for owner, prop, _ in prop_calls(layout)]
    assert (file_row, "image_path") in props and (file_row, "image_name") not in props
    assert (editor_row, "image_name") in props and (editor_row, "image_path") not in props
    assert (depth_row, "image_source") in props
    assert (depth_row, "image_path") not in props and (depth_row, "image_name") not in props
    assert (editor_row, "image_source", "Reference Image") in prop_calls(layout)


def test_rows_of_another_template_are_not_drawn(layout):
    stale = row("steps", "int")
    settings = settings_with([stale], template="other", described="my_tpl")
    settings.__dict__.update(
        prompt="", negative_prompt="", width=512, height=512, frames=1, steps=20, seed=-1, image_source="NONE"
    )
    draw_generate(layout, settings)
    assert all(owner is not stale for owner, _, _ in prop_calls(layout))
    assert "steps" in layout.props()


def test_unreadable_sidecar_is_shown_and_generic_fields_stay(layout):
    settings = SimpleNamespace(
        task="image",
        template="broken",
        params=[],
        params_template="",
        params_error="Cannot read broken.params.toml: bad. Fix the file or pick another template.",
        prompt="",
        negative_prompt="",
        width=512,
        height=512,
        frames=1,
        steps=20,
        seed=-1,
        image_source="NONE",
        service="AUTO",
        result_name="",
    )
    draw_generate(layout, settings)
    assert "Fix the file or pick another template" in layout.text()
    assert {"prompt", "width", "steps", "seed", "image_source"} <= set(layout.props())


def test_the_template_field_has_a_search_of_every_template(layout):
    draw_generate(layout, settings_with([row("prompt", "prompt")]))
    assert "genbridge.pick_template" in layout.operators()


def test_a_scene_capture_row_offers_its_camera_and_frame(layout):
    """Camera renders and passes name a camera (empty: the active one) and a frame; the viewport and the Sequencer
    only a frame; File and the Image Editor neither. Frame Number adds its number field."""
    drawn: dict[str, list[str]] = {}
    for source in ("CAMERA", "PREVIEW", "DEPTH", "MASK", "VIEWPORT", "SEQUENCER", "FILE", "IMAGE_EDITOR", "NONE"):
        recorded = type(layout)()
        image = row("end_image", "image", image_source=source, image_camera=None, image_frame="END")
        draw_generate(recorded, settings_with([image]))
        drawn[source] = [prop for owner, prop, _text in prop_calls(recorded) if owner is image]
    for source in ("CAMERA", "PREVIEW", "DEPTH", "MASK"):
        assert drawn[source] == ["image_source", "image_camera", "image_frame"], source
    assert drawn["VIEWPORT"] == drawn["SEQUENCER"] == ["image_source", "image_frame"]
    assert drawn["FILE"] == ["image_source", "image_path"]
    assert drawn["IMAGE_EDITOR"] == ["image_source", "image_name"]
    assert drawn["NONE"] == ["image_source"]
    numbered = row("image", "image", image_source="CAMERA", image_camera=None, image_frame="NUMBER")
    draw_generate(layout, settings_with([numbered]))
    calls = {(id(owner), prop): text for owner, prop, text in prop_calls(layout)}
    assert calls[(id(numbered), "image_camera")] == "Camera"
    assert calls[(id(numbered), "image_frame")] == "Frame"
    assert calls[(id(numbered), "image_frame_number")] == ""  # beside the choice, on its line
    assert ("prop", (numbered, "image_camera"), {"text": "Camera", "icon": "CAMERA_DATA"}) in layout.log
