"""One incremental server-sent-events parser, shared by the LiteLLM and Comfy API v2 clients.

Feed it bytes as they arrive and get `(event, data)` pairs out for every event those bytes complete: `data:` lines
joined with newlines, events ended by a blank line, CRLF or LF line ends, `:` comment lines (keep-alives) ignored.
Bytes are split on line ends before decoding, so a UTF-8 character cut across two network reads is never mangled.
Linear in the input: a partial line is kept as a list of pieces and only each new chunk is searched for a line
end, so a 50 MB line fed in 64 KB reads costs one pass, not one pass per read. A line (or one event's data) longer
than `max_line` raises `too_long(max_line)` instead of growing without bound. Pure computation, any thread.
"""

from __future__ import annotations

from collections.abc import Callable


class EventStream:
    """Accumulates bytes; `feed()` returns the `(event, data)` of every event completed by those bytes."""

    __slots__ = ("_data", "_data_size", "_event", "_partial", "_partial_size", "max_line", "too_long")

    def __init__(self, max_line: int, too_long: Callable[[int], Exception]) -> None:
        self.max_line = max_line
        self.too_long = too_long
        self._partial: list[bytes] = []  # pieces of the current, unfinished line
        self._partial_size = 0
        self._event = ""
        self._data: list[bytes] = []
        self._data_size = 0

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """Parse what `chunk` completes; a partial line waits for the next call."""
        out: list[tuple[str, str]] = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:end]
            start = end + 1
            if self._partial:
                self._check(self._partial_size + len(piece))
                self._partial.append(piece)
                line = b"".join(self._partial)
                self._partial, self._partial_size = [], 0
            else:
                self._check(len(piece))
                line = piece
            self._line(line[:-1] if line.endswith(b"\r") else line, out)
        if start < len(chunk):
            self._partial_size += len(chunk) - start
            self._check(self._partial_size)
            self._partial.append(chunk[start:])
        return out

    def close(self) -> list[tuple[str, str]]:
        """End of stream: a last event without its blank line still counts (servers that omit it)."""
        out: list[tuple[str, str]] = []
        if self._partial:
            line = b"".join(self._partial)
            self._partial, self._partial_size = [], 0
            self._line(line.rstrip(b"\r"), out)
        self._line(b"", out)
        return out

    def _check(self, size: int) -> None:
        if size > self.max_line:
            raise self.too_long(self.max_line)

    def _line(self, line: bytes, out: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                out.append((self._event or "message", b"\n".join(self._data).decode("utf-8", "replace")))
            self._event, self._data, self._data_size = "", [], 0
            return
        if line.startswith(b":"):
            return  # a comment: keep-alive
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace").strip()[:64]
        elif name == b"data":
            self._data_size += len(value)
            self._check(self._data_size)  # many short `data:` lines of one event add up to one payload
            self._data.append(value)
        # `id:` and `retry:` carry nothing these clients need.
