"""Hostile input on the Blender side: a server's huge or control-character error, and a configured key, in the
panel. What a user sees stays readable and bounded, and the key is in no cache the panels read."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from pathlib import Path

from genbridge.ui.draw import PanelState, draw_status
from genbridge.ui.wrap import DEFAULT_CHARS, MAX_LINES

KEY = "sk-hostile-secret-4242"


def fake_bpy(tmp_path):
    # Its own copy under its own name: the blender tests' copy keeps its class identities.
    path = Path(__file__).parents[1] / "blender" / "fake_bpy.py"
    spec = importlib.util.spec_from_file_location("genbridge_fake_bpy_hostile", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make(tmp_path)


def layout():
    spec = importlib.util.spec_from_file_location(
        "genbridge_ui_conftest", Path(__file__).parents[1] / "ui" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FakeLayout()


def test_a_megabyte_error_with_control_characters_draws_a_bounded_readable_box():
    page = "<html>\x1b[31m" + "Internal Server Error \r\n\t\x00" * 50_000 + "</html>"
    result = {"service": "comfyui", "url": "http://127.0.0.1:8188", "reachable": False, "error": {"message": page}}
    endpoints = {"comfyui|http://127.0.0.1:8188": {"service": "comfyui", "url": "http://127.0.0.1:8188"}}
    drawn = layout()
    started = time.perf_counter()
    draw_status(drawn, PanelState(endpoints=endpoints, services={"comfyui|http://127.0.0.1:8188": result}))
    assert time.perf_counter() - started < 0.5, "drawing must stay cheap whatever the server sent"
    labels = drawn.labels()
    assert len(labels) <= MAX_LINES + 6
    assert all(len(text) <= DEFAULT_CHARS and text.isprintable() for text in labels)
    assert any(text.endswith("…") for text in labels), "the cut is visible"


def test_a_configured_key_is_in_no_cache_the_panels_read(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bpy", fake_bpy(tmp_path))
    monkeypatch.delitem(sys.modules, "genbridge.blender.session", raising=False)
    session_module = importlib.import_module("genbridge.blender.session")
    try:
        prefs = {"litellm": [{"url": "http://127.0.0.1:4000", "key": KEY, "enabled": True}], "data_dir": str(tmp_path)}
        readers = session_module.PreferenceReaders(settings=lambda _d: prefs, notify=lambda: (True, False))
        session = session_module.Session("genbridge", readers)
        session.sync_settings()
        assert "litellm|http://127.0.0.1:4000" in session.endpoints
        caches = repr((session.endpoints, session.services, session.jobs, session.notice, session.endpoint_tests))
        assert KEY not in caches
        prefs["litellm"] = [{"url": "http://127.0.0.1:4000", "key": KEY + "x", "enabled": True}]
        before = dict(session.endpoints)
        session.sync_settings()
        assert session.endpoints != before, "a changed key is still noticed"
    finally:
        sys.modules.pop("genbridge.blender.session", None)
