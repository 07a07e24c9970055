"""The built Linux x64 zip installs into a bpy-only venv, really enables, and runs a job on its bundled wheels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("smoke_zip.py")

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def smoke_result(bpy_only_python: Path, linux_zip: Path, work_dir: Path) -> dict:
    work = work_dir / "smoke"
    work.mkdir()
    result = work / "result.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    # `timeout` turns bpy 4.5's exit hang (something left running at exit) into a failure instead of a stuck run.
    cmd = [
        "timeout",
        "180",
        str(bpy_only_python),
        str(SCRIPT),
        "--zip",
        str(linux_zip),
        "--result",
        str(result),
        "--standin-python",
        sys.executable,
        "--work",
        str(work / "blender"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
    assert result.is_file(), f"no result file (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(result.read_text())
    data["returncode"] = proc.returncode
    data["log"] = (proc.stdout + proc.stderr)[-3000:]
    return data


def test_smoke_venv_has_no_pip_installed_dependencies(smoke_result):
    assert smoke_result["venv_without_deps"] is True, smoke_result.get("exception")


def test_zip_is_really_enabled_after_package_install_files(smoke_result):
    assert smoke_result.get("enabled") is True, smoke_result.get("exception") or smoke_result["log"]


def test_image_job_against_the_standin_finishes_with_a_png(smoke_result):
    assert smoke_result.get("job_state") == "done", smoke_result.get("job_error") or smoke_result.get("exception")
    assert smoke_result["outputs_are_png"] is True


def test_dependencies_are_imported_from_the_bundled_wheels(smoke_result):
    site = smoke_result["wheels_site_packages"]
    assert site.endswith(".local/lib/python3.11/site-packages")
    for name in ("aiohttp", "websockets", "pydantic"):
        assert smoke_result["dependency_origins"][name].startswith(site), smoke_result["dependency_origins"]
    assert smoke_result["dependency_problems"] == []


def test_blender_process_exits_cleanly_after_disabling(smoke_result):
    assert smoke_result["runtime_stopped"] is True and smoke_result["disabled"] is True
    assert smoke_result["returncode"] == 0, (
        f"rc={smoke_result['returncode']} (124 = hung at exit)\n{smoke_result['log']}"
    )
