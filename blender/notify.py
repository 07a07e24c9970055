"""Telling the user without blocking: status bar reports from the timer and an optional finish sound.

Thread rule: main thread only. A timer cannot call `Operator.report`, so `report` runs the tiny
`genbridge.report` operator under a window override (or logs, in background mode).
"""

from __future__ import annotations

import logging
from typing import Any

import bpy

log = logging.getLogger("genbridge.notify")

_SOUND: dict[str, Any] = {}


def report(message: str, level: str = "INFO") -> None:
    """A status bar / Info log report from the timer (needs a window in the context; skipped without one)."""
    if bpy.app.background:
        # No status bar to show it in, and running an operator from a timer under a window override crashed
        # the bpy module (4.5) intermittently: log instead. The panel repeats the notice either way.
        log.log(logging.WARNING if level in ("WARNING", "ERROR") else logging.INFO, "%s", message)
        return
    wm = bpy.context.window_manager
    ops = getattr(bpy.ops, "genbridge", None)  # our operators: registered at runtime, unknown to the stubs
    if wm is None or not wm.windows or ops is None or not hasattr(ops, "report"):
        return
    try:
        with bpy.context.temp_override(window=wm.windows[0]):
            ops.report(message=message[:1000], level=level)
    except (RuntimeError, TypeError) as exc:
        log.debug("could not report %r: %s", message, exc)


def play_finish_sound() -> None:
    """A short beep through Blender's audio module (only when enabled in the preferences)."""
    try:
        import aud

        device = _SOUND.setdefault("device", aud.Device())
        _SOUND["handle"] = device.play(aud.Sound.sine(880).limit(0, 0.15).volume(0.3))
    except Exception as exc:  # noqa: BLE001 - no audio device is fine: the status bar already told the user
        log.debug("no finish sound: %s", exc)


def release_sound() -> None:
    """Drop the audio device (at unregister), so nothing keeps audio alive at exit."""
    _SOUND.clear()
