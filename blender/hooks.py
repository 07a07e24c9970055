"""Listeners other features register on the session (stdlib only, no state besides the list).

Thread rule: listeners are called on Blender's main thread, inside the timer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Called with a job's row after each state change (a finished job's outputs have landed by then). Features that
# chain jobs, like the storyboard, listen here; a failing listener is logged, never raised.
JOB_STATE_LISTENERS: list[Callable[[dict[str, Any]], None]] = []
