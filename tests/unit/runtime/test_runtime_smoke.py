from __future__ import annotations

import threading

from genbridge.runtime import Runtime
from genbridge.runtime.dispatcher import MainThreadDispatcher
from genbridge.runtime.settings import Settings


def test_job_runs_to_done_and_events_reach_the_main_thread(tmp_path, scripted):
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    dispatcher = MainThreadDispatcher()
    seen = []
    for kind in ("state", "progress", "text", "output"):
        dispatcher.add_handler(kind, lambda ev: seen.append((ev.kind, threading.current_thread().name)))
    rt = Runtime(settings=lambda: settings, emit=dispatcher.post, client_factory=lambda ep, s: scripted(ep, s))
    handle = rt.submit({"task": "text", "inputs": {"prompt": "hi"}})
    final = handle.done.result(timeout=5)
    assert final["state"] == "done"
    assert final["text"] == "hello world"
    dispatcher.drain(budget_s=1.0)
    assert ("output", threading.current_thread().name) in seen
    assert rt.shutdown(1.0)


def test_every_configured_backend_is_imported_when_the_job_service_starts(tmp_path):
    # Importing a backend later, in the middle of a job, can coincide with Blender rendering on the main thread
    # (a capture), which crashed bpy; so the loop thread imports them all while nothing else runs.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import sys, time
        from genbridge.runtime import Runtime
        from genbridge.runtime.settings import Settings
        settings = Settings(output_dir={str(tmp_path / "out")!r}, data_dir={str(tmp_path / "data")!r})
        rt = Runtime(settings=lambda: settings, emit=lambda ev: None, reattach=False)
        rt._ensure_started()
        deadline = time.monotonic() + 20
        while rt.service is None and time.monotonic() < deadline:
            time.sleep(0.02)
        loaded = [m for m in ("comfyui.client", "wan2gp.client", "litellm.client")
                  if "genbridge.backends." + m in sys.modules]
        from genbridge.workflows import wan2gp_templates
        loaded.append("presets" if wan2gp_templates._presets_by_template.cache_info().currsize else "no presets")
        print(",".join(loaded))
        rt.shutdown(2.0)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # The bundled WanGP presets (TOML) are read at start too, not in the first WanGP job during a render.
    assert out.stdout.strip() == "comfyui.client,wan2gp.client,litellm.client,presets"


def test_the_loop_thread_runs_no_python_while_held_still_and_runs_again_after():
    # While Blender renders a capture on the main thread, the loop thread must not run Python (bpy crashed when it
    # compiled a module at that moment); jobs only pause.
    import time

    from genbridge.runtime.loop import LoopThread

    loop = LoopThread()
    loop.start()
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await __import__("asyncio").sleep(0.005)

    loop.run_coroutine(tick())
    time.sleep(0.05)
    with loop.held_still() as parked:
        assert parked
        during = len(ticks)
        time.sleep(0.1)
        assert len(ticks) == during
    time.sleep(0.05)
    assert len(ticks) > during
    assert loop.stop(1.0)


def test_holding_a_loop_that_never_started_is_a_no_op():
    from genbridge.runtime.loop import LoopThread

    with LoopThread().held_still() as parked:
        assert parked is False
