"""Smoke-test a built GenBridge zip in real Blender (bpy) with only the wheels the zip bundles.

Run with the python of a venv that has ONLY bpy (no aiohttp/websockets/pydantic from pip), always under `timeout`:

    timeout 180 .venvs/bpy-only/bin/python tests/blender_zip/smoke_zip.py --zip dist/genbridge-0.1.0-linux_x64.zip \
        --result /tmp/result.json --standin-python .venvs/dev/bin/python

It installs the zip into an isolated user folder with `package_install_files`, checks the add-on is really enabled,
runs one image job through the add-on's own runtime against the ComfyUI stand-in (started in a separate process
from the dev venv) and checks aiohttp, websockets and pydantic came from the extension's wheels folder. The outcome
is written as JSON to --result (written even on failure); the exit code is 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

PKG = "bl_ext.user_default.genbridge"
BUNDLED = ("aiohttp", "websockets", "pydantic")
GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "zip_smoke"}},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_standin(python: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The ComfyUI stand-in in its own process and venv, so nothing from that venv leaks into this one."""
    cmd = [python, "-m", "genbridge.standins.comfyui", "--port", str(port), "--node-delay", "0.05"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the stand-in exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the stand-in did not answer within 30 s")


def run(args: argparse.Namespace, checks: dict[str, Any]) -> None:
    work = Path(args.work or tempfile.mkdtemp(prefix="genbridge-zip-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    # Blender reads these once, at the first `import bpy`.
    os.environ["BLENDER_USER_RESOURCES"] = str(work / "res")
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")

    present = [name for name in BUNDLED if importlib.util.find_spec(name) is not None]
    checks["venv_without_deps"] = not present
    if present:
        raise AssertionError(f"this venv already has {present}: the smoke test needs a bpy-only venv")

    standin = start_standin(args.standin_python, free_port_value := free_port(), work / "standin.log")
    try:
        t0 = time.perf_counter()
        import bpy

        checks["bpy_version"] = bpy.app.version_string
        checks["import_bpy_s"] = round(time.perf_counter() - t0, 2)

        t0 = time.perf_counter()
        status = bpy.ops.extensions.package_install_files(
            filepath=str(Path(args.zip).resolve()), repo="user_default", enable_on_install=True
        )
        checks["install_s"] = round(time.perf_counter() - t0, 2)
        checks["operator_status"] = sorted(status)
        # The operator says FINISHED even when it refused (wrong platform...): only this proves it is enabled.
        checks["enabled"] = PKG in bpy.context.preferences.addons
        if not checks["enabled"]:
            raise AssertionError(f"{PKG} is not enabled after package_install_files ({status})")

        gb = importlib.import_module(PKG)
        checks["package_file"] = gb.__file__
        from bl_ext.user_default.genbridge.runtime import Runtime
        from bl_ext.user_default.genbridge.runtime.deps import check_dependencies, dependency_origins

        url = f"http://127.0.0.1:{free_port_value}"
        settings = {
            "comfyui": [{"url": url}],
            "wan2gp": [],
            "litellm": [],
            "output_dir": str(work / "out"),
            "data_dir": str(work / "data"),
        }
        events: list[Any] = []
        runtime = Runtime(settings=lambda: settings, emit=events.append)
        try:
            t0 = time.perf_counter()
            handle = runtime.submit({"task": "image", "inputs": {"workflow": GRAPH}, "requested_service": "comfyui"})
            final = handle.done.result(timeout=args.job_timeout)
            checks["job_s"] = round(time.perf_counter() - t0, 2)
            checks["job_state"] = final.get("state")
            checks["job_error"] = final.get("error")
            outputs = [Path(p) for p in final.get("outputs") or []]
            checks["job_outputs"] = [str(p) for p in outputs]
            checks["outputs_are_png"] = bool(outputs) and all(
                p.is_file() and p.read_bytes()[:4] == b"\x89PNG" for p in outputs
            )
            checks["events"] = len(events)
            checks["dependency_problems"] = check_dependencies()
        finally:
            checks["runtime_stopped"] = runtime.shutdown(1.0)

        wheels_dir = Path(bpy.utils.user_resource("EXTENSIONS")) / ".local"
        site = wheels_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        checks["wheels_site_packages"] = str(site)
        origins = dependency_origins()
        checks["dependency_origins"] = origins
        checks["deps_from_bundled_wheels"] = all(
            name in origins and Path(origins[name]).resolve().is_relative_to(site.resolve()) for name in BUNDLED
        )

        import addon_utils

        addon_utils.disable(PKG, default_set=True)
        checks["disabled"] = PKG not in bpy.context.preferences.addons
    finally:
        standin.terminate()
        try:
            standin.wait(5)
        except subprocess.TimeoutExpired:
            standin.kill()


def passed(checks: dict[str, Any]) -> bool:
    return (
        checks.get("venv_without_deps") is True
        and checks.get("enabled") is True
        and checks.get("job_state") == "done"
        and checks.get("outputs_are_png") is True
        and checks.get("dependency_problems") == []
        and checks.get("deps_from_bundled_wheels") is True
        and checks.get("runtime_stopped") is True
        and checks.get("disabled") is True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", required=True, help="the linux_x64 extension zip")
    parser.add_argument("--result", required=True, help="JSON result file to write")
    parser.add_argument("--standin-python", required=True, help="a python that has genbridge (the dev venv)")
    parser.add_argument("--work", help="temp folder for Blender's user files (default: a new temp dir)")
    parser.add_argument("--job-timeout", type=float, default=60.0)
    args = parser.parse_args()
    checks: dict[str, Any] = {"python": sys.executable}
    try:
        run(args, checks)
    except BaseException:
        checks["exception"] = traceback.format_exc()
    checks["ok"] = passed(checks)
    Path(args.result).write_text(json.dumps(checks, indent=2, default=str), encoding="utf-8")
    print(json.dumps({"ok": checks["ok"]}))
    if not checks["ok"]:
        # A half-registered add-on can make bpy 4.5 hang at exit; the failure is already recorded, so leave now.
        sys.stdout.flush()
        os._exit(1)
    return 0  # a normal exit, so a hang at exit after a clean run still shows up (as timeout's rc 124)


if __name__ == "__main__":
    sys.exit(main())
