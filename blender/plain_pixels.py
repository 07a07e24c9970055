"""The passes' normalisation and PNG encoding in plain Python, for a Blender without numpy.

Blender's own builds bundle numpy, but distribution builds need not: Debian's blender 4.3.2 package neither depends
on nor recommends python3-numpy, and a depth capture there failed with "No module named 'numpy'" (found by the
real-GUI suite). `capture_passes` uses numpy when it is there and these functions otherwise; both give the same
PNG (tests compare them). A 512x512 depth pass takes about 0.2 s here, numpy about 20 ms.

Stdlib only, no bpy: pixels are flat float sequences (RGBA, row 0 = bottom, as `Image.pixels` gives them).
Thread rule: any thread (pure functions).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

Mist = tuple[float, float, str]  # the world's mist start, depth, falloff


def normalise(kind: str, rgba: Sequence[float], width: int, height: int, mist: Mist) -> tuple[int, list[float]]:
    """(channels, values in 0..1 with row 0 = top) of a raw pass, as `capture_passes` defines each kind."""
    flipped = flip_rows(rgba, width, height, 4)
    red, green, blue, alpha = (flipped[i::4] for i in range(4))
    seen = [a > 0.5 for a in alpha]
    if kind == "depth":
        visible = [z for z, s in zip(red, seen, strict=True) if s]
        if not visible:
            return 1, [0.0] * (width * height)
        near, far = min(visible), max(visible)
        span = max(far - near, 1e-6)
        return 1, [0.05 + 0.95 * (far - z) / span if s else 0.0 for z, s in zip(red, seen, strict=True)]
    if kind == "mist":
        start, depth, falloff = mist
        scale = max(depth, 1e-6)
        out = []
        for d, s in zip(green, seen, strict=True):
            m = min(max((d - start) / scale, 0.0), 1.0)
            m = m * m if falloff == "QUADRATIC" else math.sqrt(m) if falloff == "INVERSE_QUADRATIC" else m
            out.append(m if s else 1.0)
        return 1, out
    if kind == "normal":
        # Cycles' camera space looks down +Z; ControlNet normal maps face the viewer with +Z (OpenGL): flip Z.
        rgb: list[float] = []
        for x, y, z, s in zip(red, green, blue, seen, strict=True):
            rgb += (x * 0.5 + 0.5, y * 0.5 + 0.5, 0.5 - z * 0.5) if s else (0.0, 0.0, 0.0)
        return 3, rgb
    return 1, [1.0 if s and r > 0.5 else 0.0 for r, s in zip(red, seen, strict=True)]  # mask


def flip_rows(values: Sequence[float], width: int, height: int, channels: int) -> list[float]:
    """The rows in the other order (Blender's bottom-up pixels to a PNG's top-down)."""
    stride = width * channels
    out: list[float] = []
    for row in range(height - 1, -1, -1):
        out += values[row * stride : (row + 1) * stride]
    return out


def png_bytes(values: Sequence[float], width: int, height: int, channels: int, bit_depth: int = 8) -> bytes:
    """A grey (1), RGB (3) or RGBA (4) PNG of values in 0..1, row 0 = top, 8 or 16 bits (rounded, clipped)."""
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    top = 65535 if bit_depth == 16 else 255
    # Python's round() is round-half-even, like numpy's rint in the numpy writer: both give the same bytes.
    levels = [round(min(max(v, 0.0), 1.0) * top) for v in values]
    stride = width * channels
    fmt = f">{stride}H" if bit_depth == 16 else f">{stride}B"
    raw = b"".join(b"\x00" + struct.pack(fmt, *levels[r * stride : (r + 1) * stride]) for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
