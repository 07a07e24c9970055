"""A URL with user:password@ in one preferences row (issue 15 leftover) turns off only that row, in real Blender.

Two ComfyUI stand-ins: row 1 points at the first through a credentialed URL, row 2 at the second. A Generate job
still runs (on row 2), the status box shows row 1's message (what, where, how to fix), and the password is in no
saved .blend, no log line and no journal record.
"""

from __future__ import annotations

import importlib
import logging

import bpy
import pytest
from genbridge.standins.blender_harness import PKG

PASSWORD = "hunter2-prefs-row-9f1c"


@pytest.fixture
def two_comfyuis():
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models

    with (
        ComfyUIStandIn(models=bundled_models()).running_in_thread() as refused,
        ComfyUIStandIn(models=bundled_models()).running_in_thread() as good,
    ):
        yield refused, good


def test_a_credentialed_row_is_skipped_and_jobs_run_on_the_other_endpoint(
    gb, two_comfyuis, own_journal, restart_session, editor, pump_until, fake_layout, caplog, tmp_path
):
    refused, good = two_comfyuis
    caplog.set_level(logging.DEBUG)
    prefs = bpy.context.preferences.addons[PKG].preferences
    bad_url = refused.url.replace("http://", f"http://admin:{PASSWORD}@")
    rows = prefs.comfyui_endpoints
    rows.clear()
    first, second = rows.add(), rows.add()
    first.url, first.label = bad_url, "with password"
    second.url, second.label = good.url, "good"
    try:
        session = restart_session(None)  # the real clients
        with editor("VIEW_3D"):
            assert bpy.ops.genbridge.check_services() == {"FINISHED"}
        pump_until(session, lambda: not session.services_checking, timeout=30)

        # The status box: the bad row says what is wrong and how to fix it; the good row was checked.
        bad_row = session.endpoints[f"comfyui|{refused.url}#1"]  # numbered: a bad row never shares a status row
        assert "ComfyUI endpoint 1" in bad_row["problem"]["message"]
        assert "holds a user name or password" in bad_row["problem"]["message"]
        assert "Key field" in bad_row["problem"]["hint"]
        assert session.services[f"comfyui|{good.url}"]["reachable"]
        layout = fake_layout()
        importlib.import_module(f"{PKG}.ui.draw").draw_status(
            layout, importlib.import_module(f"{PKG}.ui.draw").PanelState(endpoints=session.endpoints, services={})
        )
        shown = " ".join(layout.labels())
        assert "holds a user name or password" in shown and "put the password (or token) in its Key field" in shown
        # ... and the preferences, under that row.
        layout = fake_layout()
        preferences_draw = importlib.import_module(f"{PKG}.ui.preferences_draw")
        preferences_draw.draw_preferences(layout, prefs, online_access=False, env={})
        shown = " ".join(layout.labels())
        assert "ComfyUI endpoint 1 (" in shown and "holds a user name or password" in shown and PASSWORD not in shown

        # A job still runs, on the other endpoint.
        with editor("VIEW_3D"):
            bpy.ops.genbridge.generate(
                task="image", prompt="a lantern", result_name="Lantern", service="comfyui", steps=2
            )
        (job_id,) = [j for j in session.jobs]
        pump_until(session, lambda: session.jobs[job_id]["state"] in ("done", "failed", "cancelled"), timeout=60)
        row = session.jobs[job_id]
        assert row["state"] == "done", row.get("error")
        image = bpy.data.images["Lantern"]
        assert image["genbridge_instance"] == good.url

        # The password is nowhere it could be kept or read back.
        blend = tmp_path / "saved.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True, compress=False)
        assert PASSWORD.encode() not in blend.read_bytes()
        assert own_journal.exists() and PASSWORD.encode() not in own_journal.read_bytes()
        assert PASSWORD not in caplog.text
        assert PASSWORD not in repr((session.endpoints, session.services, session.jobs, session.notice))
    finally:
        rows.clear()
        bpy.context.window_manager.genbridge_jobs.clear()
        if "Lantern" in bpy.data.images:
            bpy.data.images.remove(bpy.data.images["Lantern"])
