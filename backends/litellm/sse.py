"""An incremental server-sent-events parser: feed it bytes as they arrive, get complete `data:` payloads out.

Only what OpenAI-compatible servers send is kept: `data:` fields (multi-line data joined with newlines), events
ended by a blank line, CRLF or LF line endings, `:` comment lines ignored. Bytes are split on line ends before
decoding, so a UTF-8 character cut across two network reads is never mangled.

Linear in the input: a partial line is kept as a list of pieces and only each new chunk is searched for a line
end, so a 50 MB line fed in 64 KB reads costs one pass, not one pass per read. A line (or one event's data) longer
than `max_line` raises `LineTooLong` instead of growing without bound. Pure computation, any thread.
"""

from __future__ import annotations

DONE = "[DONE]"
DEFAULT_MAX_LINE = 4 * 1024 * 1024  # an OpenAI chunk is a few hundred bytes; 4 MB is generous


class LineTooLong(ValueError):
    """A stream line or event passed the parser's cap; `limit` is the cap in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a stream line is longer than {limit} bytes")
        self.limit = limit


class SSEParser:
    """Accumulates bytes; `feed()` returns the data payloads of every event completed by those bytes."""

    __slots__ = ("_data", "_data_size", "_max_line", "_partial", "_partial_size")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._max_line = max_line
        self._partial: list[bytes] = []  # pieces of the current, unfinished line
        self._partial_size = 0
        self._data: list[str] = []
        self._data_size = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Parse what `chunk` completes; a partial line waits for the next call."""
        events: list[str] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            piece = chunk[start:end]
            if self._partial:
                self._check(self._partial_size + len(piece))
                self._partial.append(piece)
                line = b"".join(self._partial)
                self._partial.clear()
                self._partial_size = 0
            else:
                self._check(len(piece))
                line = piece
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, events)
        if start < len(chunk):
            rest = chunk[start:]
            self._partial_size += len(rest)
            self._check(self._partial_size)
            self._partial.append(rest)
        return events

    def close(self) -> list[str]:
        """End of stream: a last event without its blank line still counts (servers that omit it)."""
        events: list[str] = []
        if self._partial:
            line = b"".join(self._partial)
            self._partial.clear()
            self._partial_size = 0
            self._line(line.rstrip(b"\r"), events)
        self._line(b"", events)
        return events

    def _check(self, size: int) -> None:
        if size > self._max_line:
            raise LineTooLong(self._max_line)

    def _line(self, line: bytes, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
                self._data_size = 0
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data_size += len(value)
            self._check(self._data_size)  # many short `data:` lines of one event add up to one payload
            self._data.append(value.decode("utf-8", errors="replace"))
        # `event:`, `id:`, `retry:` and `:` comments carry nothing an OpenAI stream needs.
