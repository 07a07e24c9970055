"""The shot-list parser takes the near misses real models answer, and names the real problem when it cannot."""

from __future__ import annotations

import pytest
from genbridge.workflows.text import UnparseableAnswer, parse_shotlist, shotlist_schema

SHOT = '{"description": "A robot dips a brush in rust-red paint", "duration": 3, "camera": "close-up"}'


@pytest.mark.parametrize(
    "raw",
    [
        f'{{"shots": [{SHOT},]}}',  # a trailing comma
        f'```json\n{{"shots": [{SHOT}]}}\n```',  # a code fence
        f'Sure! Here it is:\n{{"shots": [{SHOT}]}}\nEnjoy.',  # prose around it
        f'{{"scripts": [{SHOT}]}}',  # another key (a real answer used "scripts")
        f'{{"storyboard": {{"title": "Rust", "scenes": [{SHOT}]}}}}',  # one wrapping object, one list inside
        f"[{SHOT}]",  # a bare list
        f'{{"shots": [{SHOT}, {{"description": "The robot steps ba',  # cut off by max_tokens: finished shots kept
    ],
)
def test_near_misses_parse(raw: str) -> None:
    shots = parse_shotlist(raw).shots
    assert len(shots) == 1 and shots[0].description.startswith("A robot dips") and shots[0].duration == 3


def test_invalid_json_names_the_syntax_error_not_an_inner_list_of_strings() -> None:
    raw = '{"shots": [{"description": "x", "characters": ["Mara"] "duration": 3}]}'
    with pytest.raises(UnparseableAnswer) as info:
        parse_shotlist(raw)
    assert "not valid JSON (Expecting ',' delimiter at line 1, column" in info.value.message
    assert "shot 1 0" not in info.value.message


def test_a_list_of_strings_is_reported_per_shot_without_the_shot_1_0_bug() -> None:
    with pytest.raises(UnparseableAnswer) as info:
        parse_shotlist('["a door", "a window"]')
    message = info.value.message
    assert message.startswith("The model's shot list is incomplete (shot 1: ") and "shot 2: " in message
    assert "a shot must be an object with a description" in message and "shot 1 0" not in message


def test_json_without_a_list_of_shots_names_its_keys() -> None:
    with pytest.raises(UnparseableAnswer) as info:
        parse_shotlist('{"title": "Rust", "scenes": 3}')
    assert "its JSON has: title, scenes" in info.value.message


def test_missing_or_zero_durations_get_the_default_length() -> None:
    shots = parse_shotlist('{"shots": [{"description": "a door"}, {"description": "b", "duration": 0}]}').shots
    assert [s.duration for s in shots] == [3.0, 3.0]


def test_the_schema_asks_for_exactly_the_shots_wanted() -> None:
    items = shotlist_schema(4)["properties"]["shots"]
    assert items["minItems"] == items["maxItems"] == 4
    assert items["items"]["required"] == ["description", "duration", "camera", "characters"]
