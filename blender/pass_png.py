"""A raw pass (depth / normal / mist / mask) normalised and encoded as PNG bytes: the slow half of finishing a pass,
kept free of bpy so the GUI's capture run (`capture_job.CaptureRun`) can do it in a worker thread while Blender's
main thread keeps drawing. The blocking path (scripts, the bpy module, the headless worker) calls the same
`encode`, so both paths write the same bytes.

Pixels are what `Image.pixels.foreach_get` fills on the main thread: a flat float32 RGBA buffer, row 0 = bottom,
either a numpy array (Blender's own builds bundle numpy) or an `array('f')` (distribution builds such as Debian's
4.3.2 have no numpy: `plain_pixels`). Stdlib and numpy only; thread rule: any thread (pure functions).
"""

from __future__ import annotations

import struct
import zlib
from array import array
from typing import Any

from . import plain_pixels

Mist = plain_pixels.Mist  # the world's mist start, depth, falloff


def encode(kind: str, pixels: Any, width: int, height: int, mist: Mist, bit_depth: int) -> bytes:
    """The PNG of a raw pass as `capture_passes` defines each kind (see `blender/capture.py`)."""
    if isinstance(pixels, array):
        channels, values = plain_pixels.normalise(kind, pixels, width, height, mist)
        return plain_pixels.png_bytes(values, width, height, channels, bit_depth)
    raw = pixels.reshape(height, width, 4)[::-1]
    return array_png_bytes(normalise_array(kind, raw, mist), bit_depth)


def normalise_array(kind: str, raw: Any, mist: Mist) -> Any:
    """Values in 0..1, (height, width[, 3]), row 0 = top, of a (height, width, 4) float array of a raw pass."""
    import numpy as np

    alpha = raw[:, :, 3] > 0.5
    if kind == "depth":
        z = raw[:, :, 0]
        out = np.zeros(z.shape)
        if alpha.any():
            near, far = float(z[alpha].min()), float(z[alpha].max())
            span = max(far - near, 1e-6)
            out[alpha] = 0.05 + 0.95 * (far - z[alpha]) / span
        return out
    if kind == "mist":
        start, depth, falloff = mist
        m = np.clip((raw[:, :, 1] - start) / max(depth, 1e-6), 0.0, 1.0)
        m = {"QUADRATIC": m * m, "INVERSE_QUADRATIC": np.sqrt(m)}.get(falloff, m)
        return np.where(alpha, m, 1.0)
    if kind == "normal":
        # Cycles' camera space looks down +Z; ControlNet normal maps face the viewer with +Z (OpenGL): flip Z.
        rgb = raw[:, :, :3] * np.array([0.5, 0.5, -0.5]) + 0.5
        return np.where(alpha[:, :, None], rgb, 0.0)
    return np.where(alpha & (raw[:, :, 0] > 0.5), 1.0, 0.0)  # mask


def array_png_bytes(pixels: Any, bit_depth: int = 8) -> bytes:
    """A grey/RGB/RGBA PNG of a (height, width[, channels]) array of floats in 0..1 (row 0 = top)."""
    import numpy as np

    arr = np.asarray(pixels, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    height, width, channels = arr.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    top = 65535 if bit_depth == 16 else 255
    values = np.clip(np.rint(np.clip(arr, 0.0, 1.0) * top), 0, top)
    values = values.astype(">u2" if bit_depth == 16 else "u1")
    rows = values.reshape(height, width * channels)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
