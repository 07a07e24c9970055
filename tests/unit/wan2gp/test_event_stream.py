"""The `text/event-stream` parser the MCP transport reads SSE replies with: events split anywhere, capped."""

from __future__ import annotations

import pytest
from genbridge.backends.wan2gp.mcp_http import EventStream
from genbridge.runtime.errors import ReplyTooLarge

STREAM = b': keep-alive\r\nevent: message\r\ndata: {"a":\r\ndata:  1}\r\n\r\ndata: two\n\nid: 7\ndata: three'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_split_at_any_byte_come_out_whole(size):
    stream = EventStream(1024)
    events = []
    for i in range(0, len(STREAM), size):
        events += stream.feed(STREAM[i : i + size])
    events += stream.close()
    assert events == ['{"a":\n 1}', "two", "three"]


def test_a_stream_past_the_cap_stops_with_the_cap_named():
    stream = EventStream(1024 * 1024, what="event stream answering tools/call")
    with pytest.raises(ReplyTooLarge, match="1 MB"):
        for _ in range(20):
            stream.feed(b"data: " + b"x" * 100_000)


def test_a_long_line_is_kept_in_pieces_until_its_end():
    stream = EventStream(10 * 1024 * 1024)
    for _ in range(50):
        assert stream.feed(b"x" * 100_000 if _ else b"data: ") == []
    assert stream.feed(b"\n\n") == ["x" * 100_000 * 49]
