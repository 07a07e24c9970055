"""Redrawing the GenBridge regions when the caches change, throttled, with no user input needed.

Blender redraws a region only when something tags it: the timer's handlers fill the caches, so the session asks
for a redraw after every tick that changed something, and this module tags the sidebar regions that show the
GenBridge tab (3D Viewport, Sequencer, Image Editor) and the Preferences, at most `min_interval` apart.

Thread rule: main thread only (called from the timer). Stdlib only: the window manager is passed in, so tests
drive it with fakes; the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SIDEBAR_SPACES = frozenset({"VIEW_3D", "SEQUENCE_EDITOR", "IMAGE_EDITOR"})
CATEGORY = "GenBridge"
# Background Blender answers "UNSUPPORTED" for the active tab: it might be ours, so it is redrawn.
UNKNOWN_CATEGORIES = frozenset({"", "UNSUPPORTED"})
MIN_INTERVAL_S = 0.1  # at most ~10 redraws per second per region


class RedrawThrottle:
    """Collects redraw requests and says when one is due: at once, unless the last was under `min_interval` ago."""

    def __init__(self, min_interval: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self.pending = False
        self.last = float("-inf")
        self.redraws = 0

    def request(self) -> None:
        self.pending = True

    def due(self) -> bool:
        return self.pending and self._clock() - self.last >= self.min_interval

    def done(self) -> None:
        self.pending = False
        self.last = self._clock()
        self.redraws += 1


def shows_genbridge(area: Any) -> bool:
    """True when this editor's sidebar is open on the GenBridge tab (or the tab cannot be told)."""
    if area.type not in SIDEBAR_SPACES:
        return False
    space = area.spaces.active if area.spaces else None
    if space is None or not getattr(space, "show_region_ui", False):
        return False
    region = sidebar_region(area)
    if region is None:
        return False
    category = getattr(region, "active_panel_category", "")
    return category == CATEGORY or category in UNKNOWN_CATEGORIES


def sidebar_region(area: Any) -> Any:
    return next((r for r in area.regions if r.type == "UI"), None)


def tag_genbridge_regions(window_manager: Any) -> int:
    """Tag every region that shows GenBridge for redraw; returns how many were tagged."""
    tagged = 0
    for window in getattr(window_manager, "windows", ()) if window_manager is not None else ():
        screen = window.screen
        if screen is None:
            continue
        for area in screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()  # the add-on's page shows Test results and dependency problems
                tagged += 1
            elif shows_genbridge(area):
                sidebar_region(area).tag_redraw()
                tagged += 1
    return tagged
