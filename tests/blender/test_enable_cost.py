"""Enabling GenBridge in a fresh Blender imports nothing heavy (the loop thread imports it on first use)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from genbridge.standins.blender_harness import REPO


def test_enabling_in_a_fresh_blender_imports_no_aiohttp_websockets_pydantic_or_litellm(addon_zip: Path, tmp_path):
    probe = [sys.executable, str(REPO / "bench" / "main_thread.py"), "--enable-probe", str(addon_zip), str(tmp_path)]
    out = subprocess.run(probe, capture_output=True, text=True, timeout=120)
    result = json.loads(next(line for line in reversed(out.stdout.splitlines()) if line.startswith("{")))
    assert result["enabled"] is True
    assert result["heavy_modules_after_enable"] == []
