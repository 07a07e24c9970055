"""The film text tasks are data files; their answers parse into typed results or fail keeping the raw text."""

from __future__ import annotations

import pytest
from genbridge.runtime.errors import RejectedInput
from genbridge.standins.litellm_proxy import MOCK_SHOTLIST
from genbridge.workflows.text import (
    TEXT_TASKS,
    UnparseableAnswer,
    clean_prompt,
    load_text_task,
    parse_shotlist,
)


@pytest.mark.parametrize("name", TEXT_TASKS)
def test_every_bundled_task_renders_with_its_required_variables(name: str) -> None:
    task = load_text_task(name)
    values = {k: "a lighthouse at dawn" for k, v in task.variables.items() if v.required}
    messages = task.messages(values)
    assert messages[-1]["role"] == "user" and "a lighthouse at dawn" in messages[-1]["content"]
    assert "${" not in "".join(m["content"] for m in messages)


def test_a_missing_variable_is_named_with_its_description() -> None:
    with pytest.raises(RejectedInput) as info:
        load_text_task("shotlist").messages({})
    assert "logline" in info.value.message and "who wants what" in info.value.hint


def test_defaults_fill_optional_variables() -> None:
    user = load_text_task("shotlist").messages({"logline": "x"})[-1]["content"]
    assert "Plan 5 shots" in user


def test_a_user_template_dir_overrides_the_bundled_task(tmp_path) -> None:
    (tmp_path / "shotlist.toml").write_text('name = "shotlist"\n[prompt]\nuser = "Mine: ${logline}"\n')
    assert load_text_task("shotlist", [tmp_path]).messages({"logline": "y"}) == [{"role": "user", "content": "Mine: y"}]


def test_an_unknown_task_name_is_rejected() -> None:
    with pytest.raises(RejectedInput):
        load_text_task("../etc/passwd")


def test_the_mock_storyboard_answer_is_three_typed_shots() -> None:
    shots = parse_shotlist(MOCK_SHOTLIST).shots
    assert len(shots) == 3
    assert shots[1].characters == ["Mara"] and shots[1].duration == 3.5 and shots[0].camera


def test_a_fenced_list_with_loose_fields_still_parses() -> None:
    shot_json = '[{"description": "A door opens", "duration": "2.5 seconds", "characters": "Ann, Bo"}]'
    raw = f"Here you go:\n```json\n{shot_json}\n```"
    shot = parse_shotlist(raw).shots[0]
    assert (shot.duration, shot.characters, shot.camera) == (2.5, ["Ann", "Bo"], "")


def test_prose_instead_of_json_raises_and_keeps_the_raw_text() -> None:
    raw = "Shot one: a door opens. Shot two: it closes."
    with pytest.raises(UnparseableAnswer) as info:
        parse_shotlist(raw)
    assert info.value.raw == raw and isinstance(info.value, RejectedInput)


def test_a_shot_without_description_is_reported_by_number_and_field() -> None:
    with pytest.raises(UnparseableAnswer) as info:
        parse_shotlist('{"shots": [{"description": "a", "duration": 1}, {"duration": 2, "camera": "wide"}]}')
    assert "(shot 2, description: Field required)" in info.value.message


def test_prompt_answers_lose_labels_quotes_and_fences() -> None:
    assert clean_prompt('```\nPrompt: "a red door, 35mm"\n```') == "a red door, 35mm"
