"""Starting and stopping a pinned external server (the real LiteLLM proxy, comfy-api-proxy, llama_cpp.server) in a
subprocess on a free loopback port, for tests and benchmarks only.

Servers are started on 127.0.0.1, waited for with bounded polls of one URL, and stopped by their own process id
(terminate, a grace period, then kill): never by name, since other engineers' servers share the machine.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    what: str,
    timeout_s: float,
    log_tail: Callable[[], str],
    interval_s: float = 0.25,
) -> None:
    """Poll `url` until it answers 200; RuntimeError (with the log's tail) when `process` exits or time runs out.

    The caller stops the process on failure (it may own more than the process: a work folder, an upstream)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(interval_s)
    raise RuntimeError(f"{what} was not ready after {timeout_s:.0f} s:\n{log_tail()}")


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """Terminate `process` (by its pid), kill it after `grace_s`; bounded waits."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
