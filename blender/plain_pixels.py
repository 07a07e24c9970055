"""The passes' normalisation and PNG encoding in plain Python, for a Blender without numpy.

Blender's own builds bundle numpy, but distribution builds need not: Debian's blender 4.3.2 package neither depends
on nor recommends python3-numpy, and a depth capture there failed with "No module named 'numpy'" (found by the
real-GUI suite). `capture_passes` uses numpy when it is there and these functions otherwise; both give the same
PNG (tests compare them). A 1280x720 depth pass takes about 0.3 s here (numpy about 50 ms); in the GUI that runs in
a worker thread (`finish_thread`), so only the scripts' blocking path waits for it.

Stdlib only, no bpy: pixels are flat float sequences (RGBA, row 0 = bottom, as `Image.pixels` gives them).
Thread rule: any thread (pure functions).
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence

Mist = tuple[float, float, str]  # the world's mist start, depth, falloff


def normalise(kind: str, rgba: Sequence[float], width: int, height: int, mist: Mist) -> tuple[int, list[float]]:
    """(channels, values in 0..1 with row 0 = top) of a raw pass, as `capture_passes` defines each kind."""
    # Speed without numpy (about 3x the first version): rows flipped and channels split by slicing, which runs in C
    # and, on an `array('f')`, makes no float objects; one comprehension per output channel; clipping by comparisons
    # instead of min()/max() calls. Every expression is the one the first version (and numpy's) used: same values.
    flipped = flip_rows(rgba, width, height, 4)
    red, green, blue, alpha = (flipped[i::4] for i in range(4))
    if kind == "depth":
        visible = [z for z, a in zip(red, alpha, strict=True) if a > 0.5]
        if not visible:
            return 1, [0.0] * (width * height)
        near, far = min(visible), max(visible)
        span = max(far - near, 1e-6)
        return 1, [0.05 + 0.95 * (far - z) / span if a > 0.5 else 0.0 for z, a in zip(red, alpha, strict=True)]
    if kind == "mist":
        start, depth, falloff = mist
        scale = max(depth, 1e-6)
        m = [(d - start) / scale for d in green]
        m = [0.0 if v < 0.0 else 1.0 if v > 1.0 else v for v in m]  # min(max(v, 0), 1), NaN kept as min/max keep it
        if falloff == "QUADRATIC":
            m = [v * v for v in m]
        elif falloff == "INVERSE_QUADRATIC":
            m = [math.sqrt(v) for v in m]
        return 1, [v if a > 0.5 else 1.0 for v, a in zip(m, alpha, strict=True)]
    if kind == "normal":
        # Cycles' camera space looks down +Z; ControlNet normal maps face the viewer with +Z (OpenGL): flip Z.
        rgb = [0.0] * (3 * width * height)
        rgb[0::3] = [x * 0.5 + 0.5 if a > 0.5 else 0.0 for x, a in zip(red, alpha, strict=True)]
        rgb[1::3] = [y * 0.5 + 0.5 if a > 0.5 else 0.0 for y, a in zip(green, alpha, strict=True)]
        rgb[2::3] = [0.5 - z * 0.5 if a > 0.5 else 0.0 for z, a in zip(blue, alpha, strict=True)]
        return 3, rgb
    return 1, [1.0 if a > 0.5 and r > 0.5 else 0.0 for r, a in zip(red, alpha, strict=True)]  # mask


def flip_rows(values: Sequence[float], width: int, height: int, channels: int) -> Sequence[float]:
    """The rows in the other order (Blender's bottom-up pixels to a PNG's top-down), of the same type (a list, or an
    `array` whose slices are copied in C)."""
    stride = width * channels
    out = values[:0]
    for row in range(height - 1, -1, -1):
        out += values[row * stride : (row + 1) * stride]  # type: ignore[operator]
    return out


def png_bytes(values: Sequence[float], width: int, height: int, channels: int, bit_depth: int = 8) -> bytes:
    """A grey (1), RGB (3) or RGBA (4) PNG of values in 0..1, row 0 = top, 8 or 16 bits (rounded, clipped)."""
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    top = 65535 if bit_depth == 16 else 255
    # Python's round() is round-half-even, like numpy's rint in the numpy writer: both give the same bytes.
    levels = [round((0.0 if v < 0.0 else 1.0 if v > 1.0 else v) * top) for v in values]
    if bit_depth == 16:
        words = array("H", levels)
        if sys.byteorder == "little":
            words.byteswap()  # PNG samples are big-endian
        data = words.tobytes()
    else:
        data = bytes(levels)
    row = width * channels * (2 if bit_depth == 16 else 1)
    raw = b"".join(b"\x00" + data[r * row : (r + 1) * row] for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
