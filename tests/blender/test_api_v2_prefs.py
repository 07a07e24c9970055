"""A ComfyUI endpoint set to Protocol "Comfy API v2" in real Blender's preferences reaches the settings with its
kind and partner key, and gets the v2 client."""

from __future__ import annotations

import importlib


def test_a_v2_endpoint_in_the_preferences_reaches_the_settings(gb):
    prefs = gb.preferences.get()
    ep = prefs.comfyui_endpoints.add()
    try:
        ep.url = "http://127.0.0.1:8189"
        ep.label = "proxy"
        ep.kind = "api_v2"
        ep.partner_key = "comfy-org-pref-key-77aa"
        snap = gb.preferences.snapshot()
        rows = [r for r in snap["comfyui"] if r["url"] == "http://127.0.0.1:8189"]
        assert rows and rows[0]["kind"] == "api_v2" and rows[0]["partner_key"] == "comfy-org-pref-key-77aa"
        settings = importlib.import_module(f"{gb.__name__}.runtime.settings").Settings.from_mapping(snap)
        endpoint = next(e for e in settings.comfyui if e.url == "http://127.0.0.1:8189")
        assert endpoint.kind == "api_v2" and endpoint.comfy_org_key == "comfy-org-pref-key-77aa"
        assert "comfy-org-pref-key-77aa" not in repr(settings)
        client = importlib.import_module(f"{gb.__name__}.backends").make_client(endpoint, settings)
        assert type(client).__name__ == "ComfyAPIv2Client"
    finally:
        prefs.comfyui_endpoints.remove(len(prefs.comfyui_endpoints) - 1)
