"""The generate fields are written once (`blender.choices.GENERATE`); these check the table itself is coherent."""

from __future__ import annotations

from genbridge.blender.choices import GENERATE, GENERATE_FIELDS


def test_the_field_names_are_unique_and_the_snapshot_reads_every_one():
    names = [field.name for field in GENERATE]
    assert len(set(names)) == len(names)
    assert GENERATE_FIELDS == tuple(names)


def test_every_default_is_a_value_the_field_accepts():
    for field in GENERATE:
        if field.kind == "enum":
            assert field.items and field.default in {key for key, _, _ in field.items}, field.name
        elif field.kind == "int" and field.default is not None:
            assert isinstance(field.default, int), field.name
            assert field.min is None or field.default >= field.min, field.name
            assert field.max is None or field.default <= field.max, field.name
        else:
            assert field.items is None and field.min is None and field.max is None, field.name


def test_the_service_choices_are_auto_then_every_service_with_its_title():
    from genbridge.blender.choices import SERVICES
    from genbridge.runtime.services import SERVICE_TITLES
    from genbridge.runtime.services import SERVICES as SERVICE_IDS

    assert SERVICES[0][0] == "AUTO"
    assert [(key, title) for key, title, _ in SERVICES[1:]] == [(s, SERVICE_TITLES[s]) for s in SERVICE_IDS]
    assert SERVICES[2] == ("wan2gp", "WanGP", "Only use WanGP")  # what the panel showed before it was derived
