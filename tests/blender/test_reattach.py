"""Re-attaching in real Blender: a job runs on a slow ComfyUI stand-in, the add-on is disabled and enabled again
(a restart), and the image still lands where it was planned, with its provenance, pumped like Blender's timer."""

from __future__ import annotations

import importlib
import json

import addon_utils
import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


@pytest.fixture
def slow_comfyui():
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models

    with ComfyUIStandIn(node_delay=0.5, step_delay=0.2, models=bundled_models()).running_in_thread() as server:
        yield server


def _raise(exc: BaseException) -> None:
    raise exc


def test_a_job_running_when_the_add_on_restarts_lands_after_re_enabling(
    gb, own_journal, slow_comfyui, editor, pump_until
):
    prefs = bpy.context.preferences.addons[PKG].preferences
    endpoint = prefs.comfyui_endpoints.add()
    endpoint.url, endpoint.label = slow_comfyui.url, "stand-in"
    try:
        gb.blender.stop()
        session = gb.blender.start(PKG, gb.preferences.READERS)  # the real clients
        with editor("VIEW_3D"):
            bpy.ops.genbridge.generate(
                task="image", prompt="a paper boat", result_name="Reattached Boat", service="comfyui", steps=3
            )
        (job_id,) = session.jobs
        pump_until(session, lambda: session.jobs[job_id]["state"] == "running", timeout=30)

        addon_utils.disable(PKG, default_set=True, handle_error=_raise)  # Blender closes: the job is interrupted
        assert "Reattached Boat" not in bpy.data.images
        last = [json.loads(line)["job"] for line in own_journal.read_text().splitlines() if job_id in line][-1]
        assert last["state"] == "interrupted" and last["remote_ids"], last
        addon_utils.enable(PKG, default_set=True, handle_error=_raise)
        session = importlib.import_module(PKG).blender.running()
        assert job_id not in session.jobs and not session.runtime.started
        # What the session does after enabling (never inside register()): start, so journaled jobs re-attach.
        assert session.runtime.resume()

        pump_until(session, lambda: session.jobs.get(job_id, {}).get("state") in ("done", "failed"), timeout=60)
        row = session.jobs[job_id]
        assert row["state"] == "done", row.get("error")
        assert any("Re-attached after restart" in note for note in row.get("notes", []))
        image = bpy.data.images["Reattached Boat"]
        assert image.size[0] > 0
        assert image["genbridge_job_id"] == job_id
        assert image["genbridge_instance"] == slow_comfyui.url
        assert image["genbridge_prompt"] == "a paper boat"
        assert image["genbridge_service"] == "comfyui"
        assert any(r.job_id == job_id for r in bpy.context.window_manager.genbridge_jobs), "listed again"
    finally:
        current = importlib.import_module(PKG)
        if PKG in bpy.context.preferences.addons:
            bpy.context.preferences.addons[PKG].preferences.comfyui_endpoints.clear()
        bpy.context.window_manager.genbridge_jobs.clear()
        current.blender.stop()  # before the fixture restores the journal: nothing may write to it after that
        current.blender.start(PKG, current.preferences.READERS)
