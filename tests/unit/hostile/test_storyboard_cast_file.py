"""Hostile cast files: each refused with a message that names the file and the fix, quickly, without reading more
than the cap."""

from __future__ import annotations

import pytest
from genbridge.storyboard.cast import CastError, read_cast_file


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[[characters]]\nname = 'A'\n" + b"#" * (2 * 1024 * 1024), "larger than 1 MB"),
        (b"\xff\xfe\x00garbage", "is not valid TOML"),
        (b"characters = 'Mara'\n", "no [[characters]] tables"),
        (b"characters = [1, 2]\n", "expected a [[characters]] table"),
        (b"[[characters]]\nname = 'A'\nreferences = ['refs']\n", "is a folder; name an image file"),
        (b"[[characters]]\nname = 'A'\nseed = 99999999999\n", "seed must be a whole number from 0 to 2147483647"),
        (b"[[characters]]\nname = 'A'\nseed = true\n", "seed must be a whole number"),
        (b"[[characters]]\nname = '   '\n", "no name"),
    ],
)
def test_a_hostile_cast_file_is_refused_with_what_and_where(tmp_path, content, message):
    (tmp_path / "refs").mkdir()
    path = tmp_path / "cast.toml"
    path.write_bytes(content)
    with pytest.raises(CastError) as err:
        read_cast_file(path)
    assert message in str(err.value) and str(path) in str(err.value)
