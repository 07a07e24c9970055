"""An incremental server-sent-events parser: feed it bytes as they arrive, get complete `data:` payloads out.

Only what OpenAI-compatible servers send is kept: `data:` fields (multi-line data joined with newlines), events
ended by a blank line, CRLF or LF line endings, `:` comment lines ignored. Bytes are split on line ends before
decoding, so a UTF-8 character cut across two network reads is never mangled.
"""

from __future__ import annotations

DONE = "[DONE]"


class SSEParser:
    """Accumulates bytes; `feed()` returns the data payloads of every event completed by those bytes."""

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        """Parse what `chunk` completes; partial lines wait for the next call."""
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[str] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, events)
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[str]:
        """End of stream: a last event without its blank line still counts (servers that omit it)."""
        events: list[str] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value.decode("utf-8", errors="replace"))
        # `event:`, `id:`, `retry:` and `:` comments carry nothing an OpenAI stream needs.
