"""Placeholder media that says it is a placeholder: PNG images and real H.264 mp4 clips.

Stand-ins write these instead of generated content, so a user (or a test) can never mistake a stand-in's output
for a model's. Pure stdlib for PNG (zlib + a tiny bitmap font); mp4 goes through imageio-ffmpeg's bundled ffmpeg.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

# 3x5 bitmap font: each glyph is five rows of three pixels ("#" = ink). Unknown characters render as "?".
_FONT: dict[str, tuple[str, ...]] = {
    "A": ("###", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": ("###", "#..", "#..", "#..", "###"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": ("###", "#..", "#.#", "#.#", "###"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "J": ("..#", "..#", "..#", "#.#", "###"),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"),
    "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": ("###", "#.#", "#.#", "#.#", "###"),
    "P": ("###", "#.#", "###", "#..", "#.."),
    "Q": ("###", "#.#", "#.#", "###", "..#"),
    "R": ("###", "#.#", "##.", "#.#", "#.#"),
    "S": ("###", "#..", "###", "..#", "###"),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"),
    "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    "Z": ("###", "..#", ".#.", "#..", "###"),
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", "..#", "..#", "..#"),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    " ": ("...", "...", "...", "...", "..."),
    ".": ("...", "...", "...", "...", ".#."),
    ",": ("...", "...", "...", ".#.", "#.."),
    ":": ("...", ".#.", "...", ".#.", "..."),
    "-": ("...", "...", "###", "...", "..."),
    "_": ("...", "...", "...", "...", "###"),
    "/": ("..#", "..#", ".#.", "#..", "#.."),
    "=": ("...", "###", "...", "###", "..."),
    "!": (".#.", ".#.", ".#.", "...", ".#."),
    "?": ("###", "..#", ".##", "...", ".#."),
    "(": (".#.", "#..", "#..", "#..", ".#."),
    ")": (".#.", "..#", "..#", "..#", ".#."),
    "#": ("#.#", "###", "#.#", "###", "#.#"),
    "+": ("...", ".#.", "###", ".#.", "..."),
    "'": (".#.", ".#.", "...", "...", "..."),
    '"': ("#.#", "#.#", "...", "...", "..."),
}

_BACKGROUND = (58, 58, 64)
_INK = (250, 200, 40)
_BANNER = "PLACEHOLDER"


def _text_lines(text: str, max_chars: int) -> list[str]:
    """The banner, then the caller's text upper-cased and wrapped to `max_chars` columns (at most 6 lines)."""
    lines = [_BANNER]
    words = text.upper().split()
    current = ""
    for word in words:
        while len(word) > max_chars:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}".strip()
        if len(candidate) > max_chars:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines[:6]


def render_rgb(text: str, width: int, height: int) -> bytes:
    """Raw RGB24 pixels (row-major) of a placeholder card: a dark background with the banner and `text`."""
    width, height = max(1, int(width)), max(1, int(height))
    # Glyph cells are 4x6 font pixels (3x5 plus spacing); pick a scale that fits about 24 columns.
    scale = max(1, min(width // (4 * 24), height // (6 * 8)))
    max_chars = max(1, width // (4 * scale) - 1)
    lines = _text_lines(text, max_chars)
    bg_row = bytes(_BACKGROUND) * width
    rows = [bg_row] * height
    top = max(0, (height - len(lines) * 6 * scale) // 2)
    for line_no, line in enumerate(lines):
        left = max(0, (width - len(line) * 4 * scale) // 2)
        for fy in range(5):
            row = bytearray(bg_row)
            inked = False
            for ci, ch in enumerate(line):
                glyph = _FONT.get(ch, _FONT["?"])
                for fx, cell in enumerate(glyph[fy]):
                    if cell != "#":
                        continue
                    x0 = left + (ci * 4 + fx) * scale
                    x1 = min(width, x0 + scale)
                    if x0 >= width:
                        continue
                    row[x0 * 3 : x1 * 3] = bytes(_INK) * (x1 - x0)
                    inked = True
            if not inked:
                continue
            frozen = bytes(row)
            for dy in range(scale):
                y = top + (line_no * 6 + fy) * scale + dy
                if 0 <= y < height:
                    rows[y] = frozen
    return b"".join(rows)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def placeholder_png(text: str, width: int, height: int) -> bytes:
    """A valid RGB PNG of `width`x`height` that shows "PLACEHOLDER" and `text`; the text is also in a tEXt chunk."""
    width, height = max(1, int(width)), max(1, int(height))
    pixels = render_rgb(text, width, height)
    stride = width * 3
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    comment = f"GenBridge placeholder: {text}".encode("latin-1", "replace")
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"Comment\x00" + comment)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def write_placeholder_mp4(path: str | Path, text: str, width: int, height: int, frames: int, fps: int) -> None:
    """Write a real H.264 mp4 (yuv420p, Blender-readable) showing the placeholder card and a frame counter."""
    import imageio_ffmpeg  # lazy: only the stand-ins need ffmpeg

    # yuv420p needs even sizes; keep the card at least 16 px so the encoder accepts it.
    width = max(16, int(width) // 2 * 2)
    height = max(16, int(height) // 2 * 2)
    frames, fps = max(1, int(frames)), max(1, int(fps))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        # A frame counter makes the clip visibly move; cards repeat every 10 frames to keep this cheap.
        cards = [render_rgb(f"{text} F{i}", width, height) for i in range(min(frames, 10))]
        for i in range(frames):
            proc.stdin.write(cards[i % len(cards)])
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read() if proc.stderr else b""
    proc.wait(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path}: {err.decode(errors='replace').strip()}")
