"""A failed save must not block delivery (issue 21.3): save_post_fail ends the hold that save_pre started, and a
hold whose end is never heard of lapses on its own."""

from __future__ import annotations

import logging
from pathlib import Path

import bpy
import pytest


def test_save_post_fail_exists_and_genbridge_listens_to_it(gb):
    assert hasattr(bpy.app.handlers, "save_post_fail"), f"Blender {bpy.app.version_string} has no save_post_fail"
    names = {getattr(fn, "__name__", "") for fn in bpy.app.handlers.save_post_fail}
    assert "_on_save_post" in names


def test_results_land_after_a_save_that_failed(gb, restart_session, fake_client_class, pump_until, tmp_path):
    session = restart_session(fake_client_class)
    unwritable = Path(tmp_path) / "no-such-folder" / "scene.blend"
    with pytest.raises(RuntimeError, match="Cannot open file"):
        bpy.ops.wm.save_as_mainfile(filepath=str(unwritable))
    assert not session.saving, "save_post_fail ended the save's hold"
    session.submit(
        {
            "task": "image",
            "inputs": {"prompt": "after a failed save"},
            "requested_service": "comfyui",
            "target": {"kind": "image", "name": "AfterFailedSave"},
        }
    )
    pump_until(session, lambda: "AfterFailedSave" in bpy.data.images)


def test_a_save_hold_that_never_ends_lapses_with_a_warning(gb, restart_session, caplog):
    session = restart_session(None)
    clock = [0.0]
    session.dispatcher._clock = lambda: clock[0]  # an injected clock: no waiting on the wall clock
    session.saving = True  # as if save_pre ran and neither save_post nor save_post_fail ever came
    assert session.dispatcher.timer_callback() == session.dispatcher.busy_interval
    clock[0] += session.dispatcher.max_hold_s
    with caplog.at_level(logging.WARNING, logger="genbridge"):
        session.dispatcher.timer_callback()
    assert not session.saving
    assert "never heard it end" in caplog.text
