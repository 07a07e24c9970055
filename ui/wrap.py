"""Long messages over several lines, as Blender's own panels do (a label never wraps by itself: it is cut in
the middle with "..."). Pure: the width in characters is worked out from the region width by the caller.
"""

from __future__ import annotations

import textwrap
from typing import Any

DEFAULT_CHARS = 34  # the default sidebar (about 280 px wide at scale 1) when the region is unknown
CHAR_PX = 7.0  # an average character of Blender's UI font at scale 1, rounded up so lines are never cut
MARGIN_PX = 48.0  # panel margins, box padding and the icon column
MAX_LINES = 10  # a message longer than this (a server's whole error page) is cut, with "…" at the end


def chars_per_line(region_width: float, ui_scale: float = 1.0) -> int:
    """How many characters fit on one label line of a region `region_width` pixels wide."""
    if region_width <= 1:
        return DEFAULT_CHARS
    scale = ui_scale if ui_scale > 0 else 1.0
    return max(12, int((region_width - MARGIN_PX * scale) / (CHAR_PX * scale)))


def wrap(text: str, chars: int, max_lines: int = MAX_LINES) -> list[str]:
    """Split on words into lines of at most `chars` characters (a longer word, e.g. a URL, is split too);
    at most `max_lines` lines, the last ending in "…" when text was left out."""
    width = max(chars, 8)
    lines: list[str] = []
    for paragraph in str(text)[: width * (max_lines + 1)].splitlines() or [""]:
        printable = "".join(ch if ch.isprintable() else " " for ch in paragraph)
        lines += textwrap.wrap(printable, width=width, break_on_hyphens=False) or [""]
    if len(lines) > max_lines or len(str(text)) > width * (max_lines + 1):
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1] + "…"
    return lines


def draw_wrapped(layout: Any, text: str, chars: int, icon: str = "NONE") -> None:
    """The text as labels of at most `chars` characters, the icon on the first and the rest aligned under it."""
    lines = wrap(text, chars)
    if len(lines) == 1:
        layout.label(text=lines[0], icon=icon)
        return
    col = layout.column(align=True)
    for index, line in enumerate(lines):
        col.label(text=line, icon=icon if index == 0 else ("BLANK1" if icon != "NONE" else "NONE"))
