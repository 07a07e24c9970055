"""Hostile `sources` JSON given to Generate (scripts, keymaps; parsed on Blender's main thread): each is a
short message saying what to write, in bounded time, and nothing is written."""

from __future__ import annotations

import pytest
from genbridge.blender.template_fields import MAX_SOURCES_CHARS, parse_sources


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "is 200000 characters long"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "must be a JSON object"),  # nests deeper than json allows
        ('{"image": "' + "D" * 60_000 + '"}', "is no image source"),
        ('{"image": 7}', "'7' is no image source"),
        ('{"image": null}', "'None' is no image source"),
        ('{"image": ["DEPTH"]}', "is no image source"),
        ('{"image": {"source": "FILE", "path": null}}', "a File source needs its path"),
        ('{"' + "p" * 5000 + '": {"source": "DEPTH", "' + "c" * 5000 + '": "x"}}', "unknown key ccc"),
        ('{"image": {"source": "CAMERA", "frame": "' + "9" * 5000 + '"}}', '"frame" is a frame number'),
        ('{"image": {"source": "CAMERA", "frame": ' + "9" * 300 + "}}", "is beyond Blender's frames"),
        ('{"image": {"source": "CAMERA", "frame": -2000000}}', "is beyond Blender's frames -1048574..1048574"),
        ('{"image": {"source": "CAMERA", "frame": {"a": 1}}}', '"frame" is a frame number'),
        ('{"image": {"source": "CAMERA", "camera": ["x"]}}', '"camera" is the name of a camera object'),
        ("\udc80", "must be a JSON object"),
    ],
)
def test_a_hostile_sources_value_is_a_short_message(tmp_path, text, message):
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ValueError, match=message) as caught:
        parse_sources(text)
    assert len(str(caught.value)) < 400, "the message never echoes the whole input"
    assert sorted(tmp_path.iterdir()) == before
    assert MAX_SOURCES_CHARS >= 4096
