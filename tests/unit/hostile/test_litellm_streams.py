"""Hostile OpenAI-compatible servers streaming answers: cut-off streams, endless streams, huge lines, floods.

Each asserts the message a user sees, that the text so far is kept, that no key leaks, and bounded memory.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from genbridge.backends.litellm.sse import LineTooLong, SSEParser
from genbridge.runtime.errors import GenBridgeError
from genbridge.runtime.events import BackendLog, BackendText
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.workflows.text.jobs import TextJobClient


def chunk(text: str = "", finish: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def sse_script(parts, *, delay: float = 0.0, forever: bytes | None = None):
    """A server answering every request with an SSE stream of `parts` (then `forever` repeated, never ending)."""

    async def run(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
            if delay:
                await asyncio.sleep(delay)
        while forever is not None:
            writer.write(forever)
            await writer.drain()
            await asyncio.sleep(delay or 0.01)

    return run


def make(url: str, tmp_path, *, text_s: float = 30.0, reply_mb: int = 32) -> TextJobClient:
    settings = Settings(
        timeouts=Timeouts(connect=2.0, request=5.0, text=text_s),
        reply_limit_mb=reply_mb,
        output_dir=str(tmp_path / "out"),
    )
    return TextJobClient(Endpoint(service="litellm", url=url), settings)


async def run(client: TextJobClient, job: Job) -> tuple[list[str], list[str], BaseException | None]:
    texts: list[str] = []
    notes: list[str] = []
    await client.submit(job)
    try:
        async for event in client.events(job):
            if isinstance(event, BackendText):
                texts.append(event.text)
            elif isinstance(event, BackendLog):
                notes.append(event.message)
    except GenBridgeError as exc:
        return texts, notes, exc
    finally:
        await client.close()
    return texts, notes, None


def text_job(**inputs) -> Job:
    return Job(task="text", inputs={"prompt": "hi", "model": "m", **inputs})


async def test_done_without_finish_reason_is_an_incomplete_answer_not_asked_again(
    hostile, tmp_path, secret, guard
) -> None:
    # What llama-cpp-python's server sends when another request interrupts the answer.
    server = hostile(sse_script([chunk("Once upon"), chunk(" a time"), b"data: [DONE]\n\n"]))
    texts, notes, err = await run(make(server.url, tmp_path), text_job())
    assert "".join(texts) == "Once upon a time"
    assert err is not None and "probably incomplete" in err.message and "without saying" in err.message
    assert "interrupt_requests" in err.hint
    assert len(server.requests) == 1 and not notes  # never silently re-asked
    guard.assert_no_secret(err.message, err.hint)


async def test_a_finished_stream_with_done_is_complete(hostile, tmp_path) -> None:
    server = hostile(sse_script([chunk("Hi"), chunk(" there"), chunk(finish="stop"), b"data: [DONE]\n\n"]))
    texts, _, err = await run(make(server.url, tmp_path), text_job())
    assert err is None and "".join(texts) == "Hi there"


async def test_a_stream_that_never_ends_stops_at_the_total_deadline(hostile, tmp_path, guard) -> None:
    server = hostile(sse_script([chunk("tick")], delay=0.05, forever=chunk(" tick")))
    with guard.memory_bound(20):
        texts, _, err = await run(make(server.url, tmp_path, text_s=1.0), text_job())
    assert err is not None and err.code == "timeout"
    assert "took longer than the 1 s allowed for one answer" in err.message and "kept" in err.message
    assert "".join(texts).startswith("tick tick")


async def test_a_5_mb_stream_line_is_refused_naming_the_cap(hostile, tmp_path, guard) -> None:
    line = b"data: " + b"x" * (5 * 1024 * 1024) + b"\n\n"
    server = hostile(sse_script([chunk("ok"), line]))
    with guard.memory_bound(40):
        texts, _, err = await run(make(server.url, tmp_path), text_job())
    assert err is not None and "stream line larger than the 4 MB limit" in err.message
    assert "".join(texts) == "ok"


async def test_streamed_text_past_the_reply_cap_stops_with_the_text_so_far(hostile, tmp_path, guard) -> None:
    piece = chunk("y" * 60_000)
    server = hostile(sse_script([], forever=piece))
    with guard.memory_bound(30):
        texts, _, err = await run(make(server.url, tmp_path, reply_mb=1), text_job())
    assert err is not None and err.code == "reply_too_large"
    assert "passed the 1 MB limit for streamed text" in err.message
    assert 1024 * 1024 < len("".join(texts)) < 2 * 1024 * 1024


async def test_an_error_line_mid_stream_keeps_the_text_and_names_the_model(hostile, tmp_path) -> None:
    error = b'data: {"error": {"message": "upstream died", "code": "500"}}\n\n'
    server = hostile(sse_script([chunk("Half"), error]))
    texts, _, err = await run(make(server.url, tmp_path), text_job())
    assert "".join(texts) == "Half"
    assert err is not None and "The model 'm' failed mid-answer" in err.message and "upstream died" in err.message


async def test_a_health_probe_while_streaming_leaves_the_server_alone(hostile, tmp_path) -> None:
    parts = [chunk(f"w{i} ") for i in range(10)] + [chunk(finish="stop"), b"data: [DONE]\n\n"]
    server = hostile(sse_script(parts, delay=0.05))
    client = make(server.url, tmp_path)
    await client.probe()  # a (failing) probe: its result is repeated while a call is in flight
    before = len(server.requests)
    job = text_job()
    await client.submit(job)
    texts: list[str] = []
    async for event in client.events(job):
        if isinstance(event, BackendText):
            texts.append(event.text)
            if len(texts) == 1:
                await client.probe()  # what the health monitor does every 15 s
    await client.close()
    assert "".join(texts) == "".join(f"w{i} " for i in range(10))
    assert len(server.requests) == before + 1  # only the chat request: no probe reached the server


@pytest.mark.parametrize("megabytes", [5, 50])
def test_the_sse_parser_is_linear_on_long_lines(megabytes: int) -> None:
    """Fed in 64 KB reads, a long line costs one pass (it used to re-scan the whole buffer on every read)."""
    payload = b"z" * (megabytes * 1024 * 1024)
    raw = b"data: " + payload + b"\n\n"
    parser = SSEParser(max_line=64 * 1024 * 1024)
    out: list[str] = []
    for i in range(0, len(raw), 65536):
        out += parser.feed(raw[i : i + 65536])
    assert len(out) == 1 and len(out[0]) == len(payload)


def test_the_sse_parser_refuses_a_line_past_its_cap_before_holding_it() -> None:
    parser = SSEParser(max_line=1024)
    parser.feed(b"data: " + b"a" * 1000)
    with pytest.raises(LineTooLong):
        parser.feed(b"a" * 100)


async def test_a_character_split_across_tokens_arrives_whole(hostile, tmp_path) -> None:
    # llama-cpp-python sends the halves of "é" (split by byte-level tokens) as lone surrogates.
    halves = [
        b'data: {"choices": [{"index": 0, "delta": {"content": "caf\\udcc3"}}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": "\\udca9 ok"}}]}\n\n',
    ]
    server = hostile(sse_script([*halves, chunk(finish="stop"), b"data: [DONE]\n\n"]))
    texts, _, err = await run(make(server.url, tmp_path), text_job())
    assert err is None and "".join(texts) == "café ok"
    assert "".join(texts).encode("utf-8")  # valid UTF-8: Blender's text block can store it
