"""An incremental parser for the v2 job stream: feed it bytes, get `(event, data)` pairs out.

The v2 stream (`GET /api/v2/jobs/{id}/events`) sends `event: status|progress|preview|output` with one JSON `data:`
line each, and `: keepalive` comments. A pending event larger than `limit` bytes raises ReplyTooLarge (a preview
is base64 in one line; a hostile server must not grow memory unbounded). Loop thread only.
"""

from __future__ import annotations

from ...runtime.errors import ReplyTooLarge


class V2EventParser:
    __slots__ = ("_buffer", "_data", "_event", "_size", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        buffer = self._buffer + chunk if self._buffer else chunk
        out: list[tuple[str, str]] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            self._line(line[:-1] if line.endswith(b"\r") else line, out)
        self._buffer = buffer[start:]
        if len(self._buffer) + self._size > self.limit:
            raise ReplyTooLarge(
                f"Comfy API v2 sent a stream event larger than the {self.limit // 2**20} MB limit; GenBridge stopped "
                "reading.",
                service="comfyui",
            )
        return out

    def _line(self, line: bytes, out: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                out.append((self._event or "message", b"\n".join(self._data).decode("utf-8", "replace")))
            self._event, self._data, self._size = "", [], 0
            return
        if line.startswith(b":"):
            return  # keep-alive comment
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace").strip()[:64]
        elif name == b"data":
            self._data.append(value)
            self._size += len(value)
