"""An incremental server-sent-events parser: feed it bytes as they arrive, get complete `data:` payloads out.

Parsing is `backends.sse.EventStream` (linear, CRLF or LF, comments ignored, multi-line data joined with newlines,
bytes split on line ends before decoding); only the `data:` payloads are kept, since an OpenAI stream names no
events. A line (or one event's data) longer than `max_line` raises `LineTooLong`. Pure computation, any thread.
"""

from __future__ import annotations

from ..sse import EventStream

DONE = "[DONE]"
DEFAULT_MAX_LINE = 4 * 1024 * 1024  # an OpenAI chunk is a few hundred bytes; 4 MB is generous


class LineTooLong(ValueError):
    """A stream line or event passed the parser's cap; `limit` is the cap in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a stream line is longer than {limit} bytes")
        self.limit = limit


class SSEParser:
    """Accumulates bytes; `feed()` returns the data payloads of every event completed by those bytes."""

    __slots__ = ("_stream",)

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._stream = EventStream(max_line, LineTooLong)

    def feed(self, chunk: bytes) -> list[str]:
        """Parse what `chunk` completes; a partial line waits for the next call."""
        return [data for _event, data in self._stream.feed(chunk)]

    def close(self) -> list[str]:
        """End of stream: a last event without its blank line still counts (servers that omit it)."""
        return [data for _event, data in self._stream.close()]
