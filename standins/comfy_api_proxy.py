"""The real `comfy-api-proxy` (Comfy API v2, pinned 0.1.6) in a subprocess, in front of a ComfyUI stand-in.

For tests and benchmarks only: the proxy lives in its own venv (`.venvs/comfy-api-proxy`, built by `./dev setup`;
`$GENBRIDGE_COMFY_API_PROXY_BIN` names its executable), is started on a free 127.0.0.1 port and stopped by its
own process id. `ThreadedStandIn` runs a `ComfyUIStandIn` on its own thread and loop, so one stand-in can serve a
whole test module whatever loop each test runs on.

CLI: `python -m genbridge.standins.comfy_api_proxy [--token T]` (a 0.38 stand-in and the proxy; Ctrl+C stops).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .processes import free_port, stop_process, wait_ready

PROXY_VERSION = "0.1.6"
_REPO = Path(__file__).resolve().parent.parent


def proxy_bin() -> str:
    """The proxy's executable: $GENBRIDGE_COMFY_API_PROXY_BIN, else the repository's .venvs/comfy-api-proxy."""
    found = os.environ.get("GENBRIDGE_COMFY_API_PROXY_BIN") or str(_REPO / ".venvs/comfy-api-proxy/bin/comfy-api-proxy")
    if not Path(found).is_file():
        raise RuntimeError(
            f"comfy-api-proxy is not installed at {found}: run ./dev setup (it builds .venvs/comfy-api-proxy with "
            f"comfy-api-proxy=={PROXY_VERSION}), or set GENBRIDGE_COMFY_API_PROXY_BIN."
        )
    return found


class ThreadedStandIn:
    """A ComfyUI stand-in on its own thread and event loop; `server` is the live `ComfyUIStandIn`."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = {"version": "0.38", **kwargs}
        self.server: Any = None
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedStandIn:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="comfyui-standin", daemon=True)
        self._thread.start()
        if not ready.wait(30) or not self.url:
            raise RuntimeError("the ComfyUI stand-in did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        from .comfyui import ComfyUIStandIn

        loop = self._loop = asyncio.new_event_loop()
        self.server = ComfyUIStandIn(**self.kwargs)
        loop.run_until_complete(self.server.start())
        self.url = self.server.url
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self.server.stop())
        loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the stand-in's loop (its state is not thread-safe) and return the result."""
        assert self._loop is not None
        done: Any = asyncio.run_coroutine_threadsafe(_call(fn, *args), self._loop)
        return done.result(10)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


class ProxyProcess:
    """`comfy-api-proxy run --comfyui URL --host 127.0.0.1 --port N [--token T] [--state-dir D]`."""

    def __init__(self, comfyui_url: str, *, token: str | None = None, state_dir: str | None = None) -> None:
        self.comfyui_url = comfyui_url
        self.token = token
        self.state_dir = state_dir
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="comfy-api-proxy-", suffix=".log")[1])

    def start(self, timeout_s: float = 60.0) -> ProxyProcess:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [proxy_bin(), "run", "--comfyui", self.comfyui_url, "--host", "127.0.0.1", "--port", str(self.port)]
        if self.token:
            argv += ["--token", self.token]
        if self.state_dir:
            argv += ["--state-dir", self.state_dir]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_ready(
                self.proc,
                f"{self.url}/api/v2/health",
                what="comfy-api-proxy",
                timeout_s=timeout_s,
                log_tail=lambda: self.log.read_text(errors="replace")[-2000:],
                interval_s=0.1,
            )
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.proc, grace_s=3)  # open event streams hold a graceful shutdown for up to their heartbeat
        self.proc = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genbridge.standins.comfy_api_proxy")
    parser.add_argument("--token", help="bearer token the proxy requires on /api/v2/*")
    parser.add_argument("--node-delay", type=float, default=0.2)
    args = parser.parse_args(argv)
    standin = ThreadedStandIn(node_delay=args.node_delay, step_delay=0.05).start()
    proxy = ProxyProcess(standin.url, token=args.token).start()
    print(f"Comfy API v2 (comfy-api-proxy {PROXY_VERSION}) on {proxy.url}, in front of {standin.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
