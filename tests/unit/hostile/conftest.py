"""Shared pieces of the hostile-input suite: a scriptable raw TCP server and the checks every test makes.

- `hostile`: start a raw asyncio TCP server on 127.0.0.1 (in its own thread, so synchronous command-line tests
  and async client tests can both use it) that answers each connection with a script: lie, stall, flood,
  redirect, echo, close mid-reply. It records the raw requests it saw.
- `secret`: a configured key (in the key environment variables) that must never show up anywhere.
- `guard`: the checks: no secret in texts / files / logs, nothing written outside the allowed folders, memory
  bounded (tracemalloc peak).

Every server listens on 127.0.0.1 only. Time is bounded by pytest-timeout per module, never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from genbridge.runtime.redact import install_log_redaction
from genbridge.runtime.services import SERVICES, key_env_var

SECRET = "sk-hostile-7f3a9c2e-DO-NOT-LEAK"

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "HostileServer"], Awaitable[None]]


@dataclass
class HostileServer:
    """A raw TCP server on 127.0.0.1 running `script` for every connection, in a thread with its own loop."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileServer:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=main, name="hostile-server", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.script(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """The request head (and a small body when Content-Length says so), recorded."""
        head = await reader.readuntil(b"\r\n\r\n")
        body = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                size = int(line.split(b":", 1)[1])
                body = await reader.readexactly(min(size, 1 << 20))
        self.requests.append(head + body)
        return head + body


def reply(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """One complete HTTP/1.1 response."""
    reason = {200: "OK", 301: "Moved", 302: "Found", 307: "Temporary Redirect", 401: "Unauthorized"}.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Scripts:
    """Ready-made behaviours for `hostile(...)`."""

    @staticmethod
    def answer(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Script:
        async def run(reader, writer, server):
            await server.read_request(reader)
            writer.write(reply(status, body, headers))
            await writer.drain()

        return run

    @staticmethod
    def echo() -> Script:
        """A plain TCP echo server: sends back whatever it receives (not HTTP at all)."""

        async def run(reader, writer, server):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

        return run

    @staticmethod
    def redirect_to(location: Callable[[HostileServer], str] | str, status: int = 307) -> Script:
        async def run(reader, writer, server):
            await server.read_request(reader)
            target = location(server) if callable(location) else location
            writer.write(reply(status, b"", {"Location": target}))
            await writer.drain()

        return run

    @staticmethod
    def close_mid_reply(declared: int = 10_000, sent: bytes = b'{"system": {"os": "') -> Script:
        async def run(reader, writer, server):
            await server.read_request(reader)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
            writer.write(head.encode() + sent)
            await writer.drain()

        return run

    @staticmethod
    def close_at_once() -> Script:
        async def run(reader, writer, server):
            await server.read_request(reader)

        return run

    @staticmethod
    def stall() -> Script:
        async def run(reader, writer, server):
            await server.read_request(reader)
            await asyncio.sleep(3600)

        return run

    @staticmethod
    def flood(content_type: str = "application/json", chunk: bytes = b"[" * 65536) -> Script:
        """An endless body, sent as fast as the client reads."""

        async def run(reader, writer, server):
            await server.read_request(reader)
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode())
            while True:
                writer.write(chunk)
                await writer.drain()

        return run

    @staticmethod
    def echo_authorization(status: int = 500) -> Script:
        """An HTTP server that quotes the request's Authorization header back in its error body."""

        async def run(reader, writer, server):
            request = (await server.read_request(reader)).decode("latin-1")
            auth = next((ln for ln in request.split("\r\n") if ln.lower().startswith("authorization:")), "")
            body = f'{{"error": {{"message": "invalid credentials {auth}", "detail": "{auth}"}}}}'.encode()
            writer.write(reply(status, body, {"Content-Type": "application/json"}))
            await writer.drain()

        return run


@pytest.fixture
def scripts() -> type[Scripts]:
    return Scripts


@pytest.fixture
def hostile() -> Iterator[Callable[[Script], HostileServer]]:
    """`hostile(script)` starts a server (stopped after the test) and returns it."""
    started: list[HostileServer] = []

    def make(script: Script) -> HostileServer:
        server = HostileServer(script).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def secret(monkeypatch) -> str:
    """A key configured for every service (through the key environment variables)."""
    for service in SERVICES:
        monkeypatch.setenv(key_env_var(service), SECRET)
    return SECRET


@dataclass
class Guard:
    """The checks of the suite: secrets, files outside the output folder, memory."""

    root: Path
    caplog: pytest.LogCaptureFixture
    _before: set[Path] = field(default_factory=set)

    def snapshot(self) -> None:
        self._before = set(self.root.rglob("*"))

    def written_outside(self, *allowed: Path) -> list[Path]:
        """Files created under the test's tmp folder since `snapshot()` that are not inside an allowed folder."""
        allowed_resolved = [a.resolve() for a in allowed]
        fresh = [p for p in self.root.rglob("*") if p not in self._before and p.is_file()]
        return [p for p in fresh if not any(a == p.resolve() or a in p.resolve().parents for a in allowed_resolved)]

    def assert_no_secret(self, *texts: str, files: Path | None = None, secret: str = SECRET) -> None:
        """No secret in the given texts, in the captured log (messages and tracebacks), or in any file under
        `files` (journal, outputs)."""
        for text in texts:
            assert secret not in text, f"secret leaked into: {text[:300]!r}"
        assert secret not in self.caplog.text, "secret leaked into the log"
        if files is not None and files.exists():
            for path in files.rglob("*"):
                if path.is_file():
                    assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"

    @contextlib.contextmanager
    def memory_bound(self, limit_mb: float) -> Iterator[None]:
        """Fail when the Python heap grows by more than `limit_mb` inside the block (tracemalloc peak)."""
        tracemalloc.start()
        try:
            yield
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < limit_mb * 1024 * 1024, f"peak {peak / 2**20:.1f} MB over the {limit_mb} MB bound"


@pytest.fixture
def guard(tmp_path, caplog) -> Guard:
    caplog.set_level(logging.DEBUG, logger="genbridge")
    install_log_redaction()  # as the runtime and the command line do
    g = Guard(tmp_path, caplog)
    g.snapshot()
    return g


@pytest.fixture(autouse=True)
def _secret_never_logged(request, caplog):
    """Every test that configures the secret also proves it never reached the log (messages and tracebacks)."""
    caplog.set_level(logging.DEBUG, logger="genbridge")
    yield
    if "secret" in request.fixturenames:
        assert SECRET not in caplog.text, "the configured key reached the log"


def pytest_collection_modifyitems(items):
    """Bounded time for every hostile test, also in files that set no timeout of their own."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))
