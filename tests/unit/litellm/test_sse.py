"""The incremental SSE parser, fed the way a socket delivers bytes."""

from __future__ import annotations

import json

from genbridge.backends.litellm.sse import DONE, SSEParser
from genbridge.standins.fixtures import load_fixture


def test_events_split_across_reads_are_reassembled() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a"') == []
    assert parser.feed(b": 1}\n") == []
    assert parser.feed(b"\ndata: [DONE]\n\n") == ['{"a": 1}', DONE]


def test_a_utf8_character_cut_between_reads_survives() -> None:
    raw = "data: ¡olé, 映画!\n\n".encode()
    cut = raw.index("映".encode()) + 1
    parser = SSEParser()
    assert parser.feed(raw[:cut]) + parser.feed(raw[cut:]) == ["¡olé, 映画!"]


def test_crlf_comments_and_multiline_data() -> None:
    parser = SSEParser()
    assert parser.feed(b": keep-alive\r\n\r\ndata: one\r\ndata: two\r\nevent: x\r\n\r\n") == ["one\ntwo"]


def test_a_last_event_without_its_blank_line_is_kept_at_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: tail") == []
    assert parser.close() == ["tail"]


def test_the_captured_litellm_stream_byte_by_byte_gives_the_mock_text() -> None:
    raw = "".join(load_fixture("litellm", "08_chat_stream.json")["sse_raw_lines"]).encode()
    parser = SSEParser()
    payloads = [p for i in range(len(raw)) for p in parser.feed(raw[i : i + 1])]
    assert payloads[-1] == DONE
    text = "".join(json.loads(p)["choices"][0]["delta"].get("content") or "" for p in payloads[:-1])
    assert text == "Hello from mock llama3."


def test_the_captured_llamacpp_stream_parses_in_one_feed() -> None:
    lines = load_fixture("litellm", "llamacpp_02_chat_stream.json")["sse_raw_lines"]
    payloads = SSEParser().feed("".join(lines).encode())
    assert payloads[-1] == DONE and len(payloads) > 10
