"""The passes' plain-Python normalisation and PNG writer (for a Blender without numpy, e.g. Debian's 4.3.2)."""

from __future__ import annotations

import random
import struct
import zlib
from array import array

import pytest
from genbridge.blender.plain_pixels import flip_rows, normalise, png_bytes

MIST = (5.0, 25.0, "LINEAR")


def rgba(*pixels):
    """Flat RGBA floats from (r, g, b, a) tuples, row 0 = bottom as Blender gives them."""
    return [v for p in pixels for v in p]


def decode(png: bytes) -> tuple[tuple[int, ...], bytes]:
    """(IHDR fields, the filtered scanlines) of a PNG this writer made (one IDAT)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    header = struct.unpack(">IIBBBBB", png[16:29])
    (length,) = struct.unpack(">I", png[33:37])
    assert png[37:41] == b"IDAT"
    return header, zlib.decompress(png[41 : 41 + length])


def test_depth_is_white_near_dark_far_black_background_and_top_row_first():
    # 2x2, bottom row: near (z=2) and far (z=6); top row: middle (z=4) and background (alpha 0).
    raw = rgba((2.0, 0, 0, 1), (6.0, 0, 0, 1), (4.0, 0, 0, 1), (9.0, 0, 0, 0))
    channels, values = normalise("depth", raw, 2, 2, MIST)
    assert channels == 1
    assert values == pytest.approx([0.525, 0.0, 1.0, 0.05])  # top row first: middle, background; then near, far
    header, scan = decode(png_bytes(values, 2, 2, channels))
    assert header == (2, 2, 8, 0, 0, 0, 0)
    assert scan == bytes([0, round(0.525 * 255), 0, 0, 255, round(0.05 * 255)])


def test_nothing_visible_is_all_black():
    assert normalise("depth", rgba((3.0, 0, 0, 0)), 1, 1, MIST) == (1, [0.0])


def test_normal_mist_and_mask():
    facing = rgba((0.0, 0.0, -1.0, 1), (0.0, 0.0, 0.0, 0))
    assert normalise("normal", facing, 2, 1, MIST) == (3, [0.5, 0.5, 1.0, 0.0, 0.0, 0.0])
    # mist reads the distance (green): linear from start 5 over depth 25; background = 1.
    far = rgba((0, 17.5, 0, 1), (0, 1.0, 0, 1), (0, 0, 0, 0))
    assert normalise("mist", far, 3, 1, MIST) == (1, [0.5, 0.0, 1.0])
    assert normalise("mist", far, 3, 1, (5.0, 25.0, "QUADRATIC"))[1] == [0.25, 0.0, 1.0]
    assert normalise("mask", rgba((1, 0, 0, 1), (0, 0, 0, 1), (1, 0, 0, 0)), 3, 1, MIST) == (1, [1.0, 0.0, 0.0])


def test_sixteen_bit_rows_are_big_endian_and_values_clipped():
    header, scan = decode(png_bytes([-0.5, 0.5, 2.0], 3, 1, 1, bit_depth=16))
    assert header[2] == 16
    assert scan == b"\x00" + struct.pack(">3H", 0, 32768, 65535)


def test_flip_rows_turns_blenders_bottom_up_rows_top_down():
    assert flip_rows([1, 2, 3, 4, 5, 6], 1, 3, 2) == [5, 6, 3, 4, 1, 2]


def test_flip_rows_of_an_array_stays_an_array():
    flipped = flip_rows(array("f", [1, 2, 3, 4, 5, 6]), 1, 3, 2)
    assert isinstance(flipped, array) and list(flipped) == [5, 6, 3, 4, 1, 2]


def noisy_pass(width: int, height: int, seed: int) -> array:
    """A raw pass with a mix of seen and unseen pixels, values around each kind's range (and exact ties)."""
    rng = random.Random(seed)
    out = array("f")
    for i in range(width * height):
        seen = 1.0 if rng.random() < 0.8 else 0.0
        x = 0.0 if i % 7 == 0 else rng.uniform(-1.2, 1.2)  # 0 maps to 0.5: a tie for round-half-even
        out.extend((rng.uniform(2.0, 12.0) if i % 3 else x, rng.uniform(0.0, 40.0), rng.uniform(-1.0, 1.0), seen))
    return out


def test_a_list_and_an_array_give_the_same_png():
    raw = noisy_pass(9, 5, seed=3)
    for kind in ("depth", "normal", "mist", "mask"):
        from_array = normalise(kind, raw, 9, 5, MIST)
        from_list = normalise(kind, list(raw), 9, 5, MIST)
        assert png_bytes(from_array[1], 9, 5, from_array[0]) == png_bytes(from_list[1], 9, 5, from_list[0])
