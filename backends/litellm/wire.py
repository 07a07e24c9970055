"""A lean HTTP/1.1 exchange for the client's sized JSON calls (non-streamed chat answers): one kept-alive
connection per origin over asyncio streams.

Why not aiohttp here: per call it builds a request object, a header multidict, timers, trace hooks and a cookie
pass, and that cost 1.7x stdlib `http.client`'s CPU per call (issue 19.2). This does only what these calls need:
one request line, a few headers, a Content-Length or chunked body, size-capped, and nothing follows redirects
(the caller checks each hop). Streams keep using aiohttp. Loop thread only; callers bound the time.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ...runtime.errors import GenBridgeError, IncompatibleServer, ReplyTooLarge, ServerError, Unreachable
from ...runtime.netpolicy import redact_url
from ..http import MB
from .errors import SERVICE

MAX_HEAD = 64 * 1024
IDLE_S = 4.0  # below uvicorn's 5 s idle close


@dataclass
class WireReply:
    """Status, lower-cased headers and the whole body of one answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Stale(Exception):
    """A pooled connection closed before answering: safe to send once more on a fresh one."""


class Wire:
    """One idle connection per origin, reused while younger than IDLE_S."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = {}

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        limit: int,
        connect_s: float,
        first_byte_s: float,
    ) -> WireReply:
        """Send one request and read the whole answer (ReplyTooLarge past `limit` bytes); TimeoutError when the
        answer does not start within `first_byte_s` (the caller bounds the whole call)."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc.rsplit('@', 1)[-1]}", "Accept: */*"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        pooled = self._take(key)
        if pooled is not None:
            try:
                return await self._exchange(key, *pooled, raw, limit, first_byte_s, fresh=False)
            except _Stale:
                pass
            except asyncio.IncompleteReadError:
                raise broken("cut", url) from None
            except (ValueError, UnicodeDecodeError):
                raise broken("not_http", url) from None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if scheme == "https" else None, limit=MAX_HEAD
            ),
            connect_s,
        )
        try:
            return await self._exchange(key, reader, writer, raw, limit, first_byte_s, fresh=True)
        except _Stale:
            raise broken("closed", url) from None
        except asyncio.IncompleteReadError:
            raise broken("cut", url) from None
        except (ValueError, UnicodeDecodeError):
            raise broken("not_http", url) from None

    def _take(self, key: tuple[str, str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        entry = self._idle.pop(key, None)
        if entry is None:
            return None
        reader, writer, since = entry
        loop = asyncio.get_running_loop()
        if loop.time() - since > IDLE_S or reader.at_eof() or writer.is_closing():
            writer.close()
            return None
        return reader, writer

    async def _exchange(
        self,
        key: tuple[str, str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        raw: bytes,
        limit: int,
        first_byte_s: float,
        *,
        fresh: bool,
    ) -> WireReply:
        reusable = False
        try:
            writer.write(raw)
            try:
                async with asyncio.timeout(first_byte_s):
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Stale from None  # pooled: send once more on a fresh connection; fresh: "closed"
                if not exc.partial.startswith(b"HTTP/"):
                    raise ValueError("not HTTP") from None
                raise
            except asyncio.LimitOverrunError:
                raise ServerError("The text server sent reply headers larger than 64 KB.", service=SERVICE) from None
            reply, keep = _parse_head(head)
            reply.body = await _read_body(reader, reply.headers, limit, keep)
            reusable = keep
            return reply
        finally:
            if reusable:
                self._idle[key] = (reader, writer, asyncio.get_running_loop().time())
            else:
                writer.close()

    def close(self) -> None:
        for _, writer, _ in self._idle.values():
            writer.close()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[WireReply, bool]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        raise ValueError(f"not HTTP: {lines[0][:200]}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep = status_line[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return WireReply(int(status_line[1]), headers), keep


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int, keep: bool) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            length = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if length == 0:
                await reader.readuntil(b"\r\n")  # no trailers from these servers; the final empty line
                return b"".join(chunks)
            size += length
            if size > limit:
                raise _too_large(limit)
            chunks.append(await reader.readexactly(length))
            await reader.readexactly(2)
    declared = headers.get("content-length")
    if declared is not None:
        length = int(declared)
        if length > limit:
            raise _too_large(limit)
        return await reader.readexactly(length)
    data = bytearray()  # no length: the body ends when the server closes
    while chunk := await reader.read(65536):
        data += chunk
        if len(data) > limit:
            raise _too_large(limit)
    return bytes(data)


def broken(kind: str, url: str) -> GenBridgeError:
    """The same words as `backends.http.map_transport_error` for the same three failures."""
    at = f"LiteLLM at {redact_url(url)}"
    if kind == "not_http":
        return IncompatibleServer(
            f"{at} did not answer in HTTP: something else is listening on that port.",
            "Check the port in the URL: it should be the service's web port (LiteLLM 4000 by default).",
            service=SERVICE,
        )
    if kind == "cut":
        return ServerError(
            f"{at} stopped in the middle of its reply (the connection closed before the reply was complete).",
            "The service may have crashed or restarted: look at its console, then try again.",
            service=SERVICE,
        )
    return Unreachable(
        f"{at} closed the connection without answering.",
        "Check that the URL points at the service (right host and port) and look at its console.",
        service=SERVICE,
    )


def _too_large(limit: int) -> ReplyTooLarge:
    return ReplyTooLarge(
        f"LiteLLM sent an answer larger than the {limit // MB} MB limit; GenBridge stopped reading.", service=SERVICE
    )
