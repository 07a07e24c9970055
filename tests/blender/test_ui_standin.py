"""End to end in real Blender: the Generate operator, the real ComfyUI client and router, and the ComfyUI
stand-in on a thread; the image lands in bpy.data.images with its provenance, pumped like Blender's timer."""

from __future__ import annotations

import bpy
import pytest

PKG = "bl_ext.user_default.genbridge"


@pytest.fixture
def comfyui():
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models

    with ComfyUIStandIn(models=bundled_models()).running_in_thread() as server:
        yield server


def test_generate_through_the_real_client_against_the_comfyui_standin(gb, restart_session, comfyui, editor, pump_until):
    prefs = bpy.context.preferences.addons[PKG].preferences
    endpoint = prefs.comfyui_endpoints.add()
    endpoint.url, endpoint.label = comfyui.url, "stand-in"
    try:
        session = restart_session(None)  # the real clients
        with editor("VIEW_3D"):
            assert bpy.ops.genbridge.check_services() == {"FINISHED"}
        pump_until(session, lambda: not session.services_checking, timeout=30)
        status = session.services[f"comfyui|{comfyui.url}"]
        assert status["reachable"] and status["version"] == "0.3.64"
        with editor("VIEW_3D"):
            bpy.ops.genbridge.generate(
                task="image", prompt="a paper boat", result_name="Boat", service="comfyui", steps=2
            )
        (job_id,) = session.jobs
        pump_until(session, lambda: session.jobs[job_id]["state"] in ("done", "failed", "cancelled"), timeout=60)
        row = session.jobs[job_id]
        assert row["state"] == "done", row.get("error")
        assert row["plan"][0]["reason"], "the job row says why this backend was chosen"
        image = bpy.data.images["Boat"]
        assert image.size[0] > 0
        assert image["genbridge_job_id"] == job_id
        assert image["genbridge_instance"] == comfyui.url
        assert image["genbridge_prompt"] == "a paper boat"
    finally:
        prefs.comfyui_endpoints.clear()
        bpy.context.window_manager.genbridge_jobs.clear()
