"""Real-Blender test harness: the add-on is built with Blender's own extension tool and installed into an
isolated user folder with `package_install_files`, exactly as a user would, inside the `bpy` module.

The environment is set before the first `import bpy`, so nothing touches the real user's Blender config.
`bpy.app.timers` never fire in the bpy module: tests call the registered timer callback themselves.
"""

from __future__ import annotations

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


@pytest.fixture
def restart_session(gb):
    """Restart the add-on's session with an injected client factory (the backends are tested elsewhere)."""

    def restart(factory):
        gb.bridge.stop()
        return gb.bridge.start(PKG, client_factory=factory)

    yield restart
    gb.bridge.stop()
    gb.bridge.start(PKG)


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
