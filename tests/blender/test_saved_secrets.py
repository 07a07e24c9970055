"""Secrets never land in saved Blender data (issue 15.3): a key set in the preferences is not in a saved .blend,
and a URL's user info never reaches the `genbridge_instance` custom property of a result."""

from __future__ import annotations

import importlib

import bpy
from genbridge.standins.blender_harness import PKG

SECRET = "sk-blend-5ecret-0451"


def test_a_url_with_user_info_never_reaches_a_saved_custom_property(gb):
    landing = importlib.import_module(f"{PKG}.blender.landing")
    row = {"id": "job-1", "instance": f"http://user:{SECRET}@127.0.0.1:8188", "inputs": {"prompt": "a fox"}}
    props = landing.provenance(row)
    assert props["genbridge_instance"] == "http://127.0.0.1:8188"
    assert SECRET not in repr(props)


def test_a_key_in_the_preferences_is_not_saved_into_the_blend_file(gb, tmp_path):
    prefs = bpy.context.preferences.addons[PKG].preferences
    row = prefs.comfyui_endpoints.add()
    row.url, row.key = "http://127.0.0.1:8188", SECRET
    image = bpy.data.images.new("GenBridgeSecretCheck", 4, 4)
    image["genbridge_instance"] = landing_instance(f"http://u:{SECRET}@127.0.0.1:8188")
    path = tmp_path / "saved.blend"
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=False)
        assert SECRET.encode() not in path.read_bytes()
    finally:
        prefs.comfyui_endpoints.remove(len(prefs.comfyui_endpoints) - 1)
        bpy.data.images.remove(image)


def landing_instance(url: str) -> str:
    return importlib.import_module(f"{PKG}.blender.landing").provenance({"instance": url})["genbridge_instance"]


def test_log_lines_of_modules_logging_under_the_extension_package_name_are_masked(gb, caplog, monkeypatch):
    """In Blender the package is `bl_ext.<repo>.genbridge`: its `__name__` loggers are masked too."""
    import logging

    redact = importlib.import_module(f"{PKG}.runtime.redact")
    monkeypatch.setenv("GENBRIDGE_COMFYUI_KEY", SECRET)
    redact.install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger(f"{PKG}.workflows.api").warning("server said %s", SECRET)
        logging.getLogger("genbridge.jobs").warning("server said %s", SECRET)
    assert caplog.text.count("server said ***") == 2 and SECRET not in caplog.text
