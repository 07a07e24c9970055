"""Real-Blender test harness: the add-on is built with Blender's own extension tool and installed into an
isolated user folder with `package_install_files`, exactly as a user would, inside the `bpy` module.

The environment is set before the first `import bpy`, so nothing touches the real user's Blender config.
`bpy.app.timers` never fire in the bpy module: tests call the registered timer callback themselves.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from pathlib import Path

from genbridge.standins.blender_harness import PKG, build_zip, install_zip, isolate

_TMP = isolate()

import bpy  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def addon_zip() -> Path:
    return build_zip(_TMP / "dist")


@pytest.fixture(scope="session")
def installed(addon_zip: Path):
    """Install and enable the built zip once per session; the operator returns FINISHED even when it refuses."""
    return install_zip(addon_zip)


@pytest.fixture
def gb(installed):
    """The enabled add-on module; re-enabled if a test disabled it."""
    import addon_utils

    if PKG not in bpy.context.preferences.addons:
        addon_utils.enable(PKG, default_set=True, handle_error=_raise)
    return importlib.import_module(PKG)


def _raise(exc: BaseException) -> None:
    raise exc


@pytest.fixture(scope="module")
def proxy():
    """A real LiteLLM proxy with mock models (once per test module)."""
    from genbridge.standins.litellm_proxy import start_litellm_proxy

    with start_litellm_proxy(with_upstream=False) as running:
        yield running


@pytest.fixture
def storyboard_services(gb, proxy, monkeypatch):
    """`storyboard_services(node_delay=..., clip_step_delay=...)`: ComfyUI and WanGP stand-ins on their own threads,
    the add-on's preferences pointed at them and the proxy, and a fresh session; yields (session, comfy, wan)."""
    from genbridge.standins.comfyui import ComfyUIStandIn, bundled_models
    from genbridge.standins.wan2gp import Wan2GPStandIn

    @contextlib.contextmanager
    def services(*, node_delay: float = 0.0, clip_step_delay: float = 0.0):
        comfy_cm = ComfyUIStandIn(node_delay=node_delay, models=bundled_models()).running_in_thread()
        wan = Wan2GPStandIn(step_delay=clip_step_delay)
        with comfy_cm as comfy, wan.run_in_thread() as wan_url:
            monkeypatch.setenv("GENBRIDGE_LITELLM_KEY", proxy.master_key)
            prefs = bpy.context.preferences.addons[PKG].preferences
            for service, url in (("comfyui", comfy.url), ("wan2gp", wan_url), ("litellm", proxy.url)):
                rows = prefs.endpoints(service)
                rows.clear()
                rows.add().url = url
            prefs.text_model = "storyboard-mock"
            gb.blender.stop()
            session = gb.blender.start(PKG, gb.preferences.READERS)
            try:
                yield session, comfy, wan
            finally:
                gb.blender.stop()
                for service in ("comfyui", "wan2gp", "litellm"):
                    prefs.endpoints(service).clear()
                prefs.text_model = ""
                gb.blender.start(PKG, gb.preferences.READERS)

    return services


@pytest.fixture
def own_journal(gb):
    """The journal lives in the shared extension user folder: set other tests' jobs aside, restore them after."""
    gb.blender.stop()  # a running session would journal its jobs into our file
    gb.blender.start(PKG, gb.preferences.READERS)
    journal = Path(bpy.utils.extension_path_user(PKG, create=True)) / "journal.jsonl"
    saved = journal.read_bytes() if journal.exists() else None
    journal.unlink(missing_ok=True)
    yield journal
    if saved is None:
        journal.unlink(missing_ok=True)
    else:
        journal.write_bytes(saved)


@pytest.fixture
def restart_session(gb):
    """Restart the add-on's session with an injected client factory (the backends are tested elsewhere)."""

    def restart(factory):
        gb.blender.stop()
        return gb.blender.start(PKG, gb.preferences.READERS, client_factory=factory)

    yield restart
    gb.blender.stop()
    gb.blender.start(PKG, gb.preferences.READERS)


def pump(session, until, timeout: float = 10.0) -> None:
    """Call the registered timer callback as Blender would, until `until()` is true (bounded)."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; jobs: {session.jobs}")
        session.dispatcher.timer_callback()
        time.sleep(0.005)


@pytest.fixture
def pump_until():
    return pump


@pytest.fixture
def fake_client_class(gb):
    """A backend client built from the INSTALLED add-on's own classes (a second copy would fail isinstance)."""
    events = importlib.import_module(f"{PKG}.runtime.events")
    backend = importlib.import_module(f"{PKG}.runtime.backend")
    import asyncio

    from genbridge.standins.placeholder import placeholder_png

    class FakeClient:
        hang = False

        def __init__(self, endpoint, settings):
            self.endpoint, self.service = endpoint, endpoint.service

        async def probe(self):
            return backend.ProbeResult(
                service=self.service,
                url=self.endpoint.url,
                reachable=True,
                version="fake",
                vram_free_gb=10.0,
                vram_total_gb=24.0,
            )

        async def validate(self, job):
            return []

        async def submit(self, job):
            return f"remote-{job.id}"

        async def events(self, job):
            if self.hang:
                await asyncio.Event().wait()
            for i in range(3):
                yield events.BackendProgress(fraction=(i + 1) / 4, phase=f"step {i + 1}")
            if job.task == "text":
                for word in ("Once ", "upon ", "a time"):
                    yield events.BackendText(text=word)

        async def cancel(self, job):
            pass

        async def fetch_outputs(self, job, dest):
            dest.mkdir(parents=True, exist_ok=True)
            if job.task == "text":
                out = dest / "text.txt"
                out.write_text(job.text)
            else:
                out = dest / "image.png"
                out.write_bytes(placeholder_png("PLACEHOLDER", 64, 64))
            return [out]

        async def close(self):
            pass

    return FakeClient


# -- UI test helpers (additive) -----------------------------------------------------------------------------------
class FakeLayout:
    """Records every UILayout call (Panel.draw never runs in the bpy module); containers return child layouts."""

    CONTAINERS = ("row", "column", "box", "split", "grid_flow", "column_flow")

    def __init__(self, log=None) -> None:
        self.__dict__["log"] = [] if log is None else log

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.log.append((name, args, kwargs))
            if name in self.CONTAINERS:
                return FakeLayout(self.log)
            if name == "operator":
                from types import SimpleNamespace

                props = SimpleNamespace()
                self.log[-1][2]["props"] = props
                return props
            return None

        return call

    def __setattr__(self, name, value) -> None:
        self.log.append(("set:" + name, (value,), {}))

    def calls(self, method):
        return [(args, kwargs) for name, args, kwargs in self.log if name == method]

    def labels(self):
        return [kwargs.get("text", "") for _args, kwargs in self.calls("label")]

    def operators(self):
        return [args[0] for args, _kwargs in self.calls("operator")]


@pytest.fixture
def fake_layout():
    return FakeLayout


@pytest.fixture
def editor():
    """`with editor("SEQUENCE_EDITOR"):` overrides the context with an area of that type (converting the
    default screen's Dope Sheet if none exists) and its UI region; the area's type is restored afterwards."""
    import contextlib

    @contextlib.contextmanager
    def override(area_type: str):
        window = bpy.context.window_manager.windows[0]
        areas = window.screen.areas
        area = next((a for a in areas if a.type == area_type), None)
        converted = None
        if area is None:
            area = next(a for a in areas if a.type == "DOPESHEET_EDITOR")
            converted, area.type = area.type, area_type
        region = next(r for r in area.regions if r.type == "UI")
        try:
            with bpy.context.temp_override(window=window, area=area, region=region):
                yield area
        finally:
            if converted:
                area.type = converted

    return override


@pytest.fixture
def idle_loop(gb):
    """GenBridge's loop thread idle before a test steps a CaptureRun by hand: a capture asks the loop to park and
    waits a bounded 0.5 s, then asks again next tick (blender/capture_job.py). A previous test's Generate may have
    started the job service, one long callback importing the backends; stepping while it runs would only wait."""
    session = gb.blender.running()
    if session is not None:
        with session.runtime.held_still(30.0):
            pass


@pytest.fixture
def quad_under_camera():
    """`quad_under_camera(name, camera, half=, tilt=)`: a scene with one quad (2*half wide, tilted about X by
    `tilt`) under a camera 6 m above it, Workbench as the user's engine at 320x240 50 %; removed after the test."""
    import bpy

    made: list = []

    def make(name: str, camera: str, *, half: float = 1.0, tilt: float = 0.0):
        scene = bpy.data.scenes.new(f"{name} Test")
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [], [(0, 1, 2, 3)])
        quad = bpy.data.objects.new(name, mesh)
        quad.rotation_euler = (tilt, 0.0, 0.0)
        scene.collection.objects.link(quad)
        cam = bpy.data.objects.new(camera, bpy.data.cameras.new(camera))
        cam.location = (0, 0, 6)
        scene.collection.objects.link(cam)
        scene.camera = cam
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 320, 240, 50
        made.append((scene, quad, mesh, cam))
        return scene

    yield make
    for scene, quad, mesh, cam in made:
        data = cam.data
        bpy.data.objects.remove(quad)
        bpy.data.meshes.remove(mesh)
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(data)
        bpy.data.scenes.remove(scene)
