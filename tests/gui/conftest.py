"""Real-GUI run: Debian's Blender 4.3.2 (Python 3.13) in a cached trixie root, under Xvfb with software GL.

One session-scoped run does everything and the tests judge its result file:
1. the cached root (tools/gui_chroot.py; built once per machine, ~70 s);
2. the Linux zip built by THAT Blender's own tool (`blender --command extension build --split-platforms`) from
   the staged add-on with the cp311+cp313 wheels of wheels.lock, installed with
   `blender --command extension install-file -r user_default -e` into an isolated user folder;
3. stand-ins on the host's 127.0.0.1 (two ComfyUI, one WanGP) and the real LiteLLM proxy with a master key;
4. Blender's window on a private Xvfb display, driven by tests/gui/driver.py (timers, no redraw requests);
   screenshots from outside (`import -window root`) into out/gui/ whenever the driver asks for one.
Every external command runs under `timeout`; bind mounts live in a private mount namespace (see gui_chroot).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import build_extension  # noqa: E402
import gui_chroot  # noqa: E402
import wheel_spec  # noqa: E402

OUT = REPO / "out" / "gui"
SCREEN = (2000, 1200)
BLENDER_TIMEOUT_S = 480  # a warm run needs ~150 s; a loaded 2-core machine needed up to 255 s
IN_ROOT = "/gb"  # the run's work dir inside the root
LOGLINE = "A lighthouse keeper finds a glowing message in a bottle during a storm"


def _say(message: str) -> None:
    print(f"[gui] {message}", file=sys.stderr, flush=True)


def in_root(
    root: Path, work: Path, argv: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    binds = [(str(work), IN_ROOT)]
    if "DISPLAY" in env:  # the X server's socket dir exists once Xvfb runs
        binds.append((gui_chroot.X11_DIR, gui_chroot.X11_DIR))
    return gui_chroot.run(root, argv, binds=binds, env=env, timeout=timeout, capture=True)


def blender_env(display: str = "") -> dict[str, str]:
    env = {
        "BLENDER_USER_RESOURCES": f"{IN_ROOT}/bres",
        "XDG_CACHE_HOME": f"{IN_ROOT}/cache",
        "HOME": f"{IN_ROOT}/home",
        "TMPDIR": f"{IN_ROOT}/tmp",
    }
    if display:
        env |= {"DISPLAY": display, "LIBGL_ALWAYS_SOFTWARE": "1", "GB_GUI_CONFIG": f"{IN_ROOT}/config.json"}
    return env


def build_and_install(root: Path, work: Path) -> dict[str, object]:
    """Stage the add-on with the Linux wheels, build with Blender 4.3.2's own tool, install-file it (enabled)."""
    lock = wheel_spec.read_lock()
    wheels = build_extension.wheels_for(["linux-x64"], lock)
    build_extension.ensure_wheels(wheels, wheel_spec.WHEEL_CACHE)
    build_extension.stage(REPO, work / "src" / "genbridge", wheels, ["linux-x64"], wheel_spec.WHEEL_CACHE)
    for sub in ("dist", "bres", "cache", "home", "tmp", "shots"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    build = ["blender", "--command", "extension", "build", "--split-platforms"]
    build += ["--source-dir", f"{IN_ROOT}/src/genbridge", "--output-dir", f"{IN_ROOT}/dist"]
    proc = in_root(root, work, build, blender_env(), 180)
    zips = sorted((work / "dist").glob("genbridge-*linux_x64.zip"))
    if proc.returncode != 0 or not zips:
        raise RuntimeError(
            f"`blender --command extension build` failed (rc={proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    zip_in_root = f"{IN_ROOT}/dist/{zips[0].name}"
    install = ["blender", "--command", "extension", "install-file", "-r", "user_default", "-e", zip_in_root]
    proc2 = in_root(root, work, install, blender_env(), 180)
    if proc2.returncode != 0:
        raise RuntimeError(f"`extension install-file` failed (rc={proc2.returncode}):\n{proc2.stdout}{proc2.stderr}")
    site = sorted(
        str(p.relative_to(work)) for p in (work / "bres").glob("extensions/.local/lib/python3*/site-packages")
    )
    return {
        "zip": zips[0].name,
        "zip_bytes": zips[0].stat().st_size,
        "install_log": proc2.stdout[-1500:],
        "wheel_site": site,
    }


@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    """A private Xvfb display (it picks a free number itself and tells us through -displayfd)."""
    read, write = os.pipe()
    cmd = ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"]
    proc = subprocess.Popen(cmd, pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as fh:
            number = fh.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start (no display number)")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def screenshot_taker(requests: Path, out: Path, display: str) -> Iterator[list[str]]:
    """Turn the driver's `<name>.jpg.req` files into downscaled JPEG screenshots of the whole X screen, and its
    `<name>.key` files into real key presses on the display (xdotool)."""
    taken: list[str] = []
    stop = threading.Event()

    def take_pending() -> None:
        for key in sorted(requests.glob("*.key")):  # a real key press (xdotool), e.g. Esc during a render
            keys = key.read_text().split()
            type_in = ["timeout", "10", "xdotool", "mousemove", str(SCREEN[0] // 2), str(SCREEN[1] // 2), "key", *keys]
            done = subprocess.run(
                type_in, check=False, capture_output=True, text=True, env={**os.environ, "DISPLAY": display}
            )
            with (out / "xdotool.txt").open("a") as log:  # what was typed, and xdotool's complaints if any
                log.write(f"{' '.join(type_in)} -> rc {done.returncode} {done.stdout}{done.stderr}\n")
            key.unlink(missing_ok=True)
        for req in sorted(requests.glob("*.req")):
            name = req.name[: -len(".req")]
            cmd = ["timeout", "20", "import", "-display", display, "-window", "root", "-resize", "50%"]
            subprocess.run([*cmd, "-quality", "70", str(out / name)], check=False, capture_output=True)
            req.unlink(missing_ok=True)
            taken.append(name)

    def loop() -> None:
        while not stop.wait(0.05):
            take_pending()

    thread = threading.Thread(target=loop, name="gui-screenshots", daemon=True)
    thread.start()
    try:
        yield taken
    finally:
        stop.set()
        thread.join(30)
        take_pending()


@contextlib.contextmanager
def services() -> Iterator[dict[str, dict[str, str]]]:
    """Two ComfyUI stand-ins (for the URL change), a WanGP stand-in, and the real LiteLLM proxy with a key."""
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models
    from genbridge.standins.litellm_proxy import start_litellm_proxy
    from genbridge.standins.wan2gp import Wan2GPStandIn

    with contextlib.ExitStack() as stack:
        # Slow enough steps that progress is visible for a while; fast enough for CI.
        comfy_a = stack.enter_context(
            ComfyUIStandIn(node_delay=0.02, step_delay=0.2, models=bundled_models()).running_in_thread()
        )
        comfy_b = stack.enter_context(
            ComfyUIStandIn(node_delay=0.02, step_delay=0.2, models=bundled_models()).running_in_thread()
        )
        wan = stack.enter_context(Wan2GPStandIn(step_delay=0.05).run_in_thread())
        proxy = stack.enter_context(start_litellm_proxy(with_upstream=False))
        yield {
            "comfy_a": {"url": comfy_a.url, "label": "comfyA"},
            "comfy_b": {"url": comfy_b.url, "label": "comfyB"},
            "wan": {"url": wan, "label": "wanS"},
            "llm": {"url": proxy.url, "label": "llmP", "key": proxy.master_key},
        }


def run_gui(root: Path, work: Path, endpoints: dict, display: str) -> dict:
    key = endpoints["llm"].pop("key")
    config = {
        "endpoints": endpoints,
        "master_key": key,
        "text_model": "storyboard-mock",
        "logline": LOGLINE,
        "work_dir": IN_ROOT,
        "shots_dir": f"{IN_ROOT}/shots",
        "result": f"{IN_ROOT}/result.json",
        "frames_log": f"{IN_ROOT}/frames.jsonl",
    }
    (work / "config.json").write_text(json.dumps(config))
    shutil.copy2(Path(__file__).with_name("driver.py"), work / "driver.py")
    argv = ["blender", "--enable-event-simulate", "--window-geometry", "0", "0", str(SCREEN[0]), str(SCREEN[1])]
    argv += ["--python", f"{IN_ROOT}/driver.py"]
    t0 = time.monotonic()
    proc = in_root(root, work, argv, blender_env(display), BLENDER_TIMEOUT_S)
    output = proc.stdout + proc.stderr
    (OUT / "blender-output.txt").write_text(output)
    result_file = work / "result.json"
    data = json.loads(result_file.read_text()) if result_file.is_file() else {"checks": {}, "missing_result": True}
    for name in ("frames.jsonl", "tmp/blender.crash.txt"):  # what was drawn; Blender's crash report, if any
        if (work / name).is_file():
            shutil.copy2(work / name, OUT / Path(name).name)
    data |= {"returncode": proc.returncode, "output": output, "blender_s": round(time.monotonic() - t0, 1)}
    return data


@pytest.fixture(scope="session")
def gui_run() -> dict:
    """The whole GUI session, once; its result (the driver's JSON plus rc, output, timings)."""
    t0 = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        if old.is_file():
            old.unlink()
    gui_chroot.ensure_host_tools()
    root = gui_chroot.ensure_root()
    t_root = time.monotonic() - t0
    with tempfile.TemporaryDirectory(prefix="genbridge-gui-") as tmp:
        work = Path(tmp)
        t1 = time.monotonic()
        install = build_and_install(root, work)
        t_install = time.monotonic() - t1
        with services() as endpoints, xvfb() as display, screenshot_taker(work / "shots", OUT, display) as shots:
            _say(f"Blender on {display}; screenshots into {OUT}")
            data = run_gui(root, work, endpoints, display)
        data["screenshots"] = shots
    data |= install
    data["timings_s"] = {
        "root": round(t_root, 1),
        "build_install": round(t_install, 1),
        "blender": data["blender_s"],
        "total": round(time.monotonic() - t0, 1),
    }
    summary = {k: data.get(k) for k in ("timings_s", "returncode", "blender", "zip", "wheel_site")}
    (OUT / "result.json").write_text(
        json.dumps({**summary, **{k: data.get(k) for k in ("checks", "gaps", "log")}}, indent=1)
    )
    return data
