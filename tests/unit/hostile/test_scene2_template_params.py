"""Hostile sidecars for the panel's template parameters (read on Blender's main thread): each is a message that
names the file and the fix, read in bounded time and memory, and nothing is written."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from genbridge.blender.template_fields import fill, template_inputs
from genbridge.workflows.panel_params import MAX_SIDECAR_BYTES, ParamsUnreadable, read_panel_params


class Rows(list):
    def add(self):
        self.append(SimpleNamespace())
        return self[-1]


def user_template(folder, text: str, name: str = "evil"):
    (folder / f"{name}.json").write_text("{}")
    (folder / f"{name}.params.toml").write_text(text)
    return name


def snapshot(folder):
    return sorted((p.name, p.stat().st_size) for p in folder.iterdir())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * (MAX_SIDECAR_BYTES + 1), "too large for a parameter file"),
        ('params = "all"\n', '"params" must be a table'),
        ('[params.look]\ntype = "string"\nchoices = ["a\\nb", "c"]\n', "spans lines"),
        ('[params.look]\ntype = "string"\nchoices = [{x = 1}]\n', "must list plain values"),
        ("[params.a]\n" + "[params.a.b]\n" * 3, "Cannot read"),
        ("\udc80", "Cannot read"),
    ],
)
def test_a_hostile_sidecar_is_a_message_naming_the_file_and_the_fix(tmp_path, text, message):
    if text == "\udc80":
        (tmp_path / "evil.json").write_text("{}")
        (tmp_path / "evil.params.toml").write_bytes(b"\xff\xfe not utf-8")
    else:
        user_template(tmp_path, text)
    before = snapshot(tmp_path)
    with pytest.raises(ParamsUnreadable) as caught:
        read_panel_params("evil", [str(tmp_path)])
    assert message in str(caught.value)
    assert "evil.params" in str(caught.value) and "pick another template" in str(caught.value)
    assert snapshot(tmp_path) == before  # read only


def test_a_template_name_is_not_a_path_out_of_the_folders(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    user_template(outside, '[params.secret]\ntype = "string"\n', name="leak")
    folder = tmp_path / "templates"
    folder.mkdir()
    assert read_panel_params("../outside/leak", [str(folder)]) == []


def test_huge_int_ranges_fit_blenders_ints_and_numeric_choices_stay_numbers(tmp_path):
    name = user_template(
        tmp_path,
        '[params.n]\ntype = "int"\nmin = -99999999999999\nmax = 99999999999999\ndefault = 99999999999999\n'
        '[params.size]\ntype = "int"\nchoices = [512, 768]\ndefault = 768\n',
    )
    rows = Rows()
    fill(rows, read_panel_params(name, [str(tmp_path)]), {}, {})
    assert rows[0].int_value == 2**31 - 1 and rows[0].int_min == -(2**31 - 1)
    inputs, _ = template_inputs(rows)
    assert inputs == {"n": 2**31 - 1, "size": 768}
