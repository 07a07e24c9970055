"""A key split across streamed chunks (issue 15 leftover): what is shown never holds the key, and nothing else changes.

A hostile OpenAI-compatible server streams an answer in which the configured key arrives in two or three pieces.
The server sends each piece only after the client has yielded the previous one as its own text event (a
handshake through a spy on the client), so every split really reaches the job service apart. The answer goes
through the same path the command line (stdout) and Blender (text events into a text block) use: `Runtime` ->
`JobService` -> `TextJobClient` -> `LiteLLMClient`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import time

import pytest
from genbridge.backends.litellm import stream as litellm_stream
from genbridge.cli import main
from genbridge.runtime import Runtime
from genbridge.runtime.events import BackendText
from genbridge.runtime.redact import MASK, StreamRedactor, redact
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.workflows.text.jobs import TextJobClient

from .conftest import SECRET, reply

pytestmark = pytest.mark.timeout(60)

MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()


def sse(text: str = "", finish: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class Handshake:
    """Counts the text pieces the client has yielded, so the server sends the next one only after that."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[str] = []
        original = TextJobClient.events

        async def spying(client, job):
            async for event in original(client, job):
                if isinstance(event, BackendText):
                    self.seen.append(event.text)
                yield event

        monkeypatch.setattr(TextJobClient, "events", spying)
        # Each piece is flushed as soon as it is read instead of after the 30 ms batch window: only for speed, the
        # handshake alone already keeps the pieces apart.
        monkeypatch.setattr(litellm_stream, "BATCH_WINDOW_S", 0.0)

    async def wait_for(self, count: int) -> None:
        for _ in range(20_000):  # bounded: at most ~20 s, then the test fails on the text it got
            if len(self.seen) >= count:
                return
            await asyncio.sleep(0.001)


def streaming_server(parts: list[str], handshake: Handshake, *, finish: bool = True, stall: bool = False):
    """Answers GETs (health, models) with a model list and a chat POST with `parts`, one SSE chunk each."""

    async def run(reader, writer, server):
        request = await server.read_request(reader)
        if not request.startswith(b"POST") or b"chat/completions" not in request:
            writer.write(reply(200, MODELS, {"Content-Type": "application/json"}))
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        base = len(handshake.seen)
        for number, part in enumerate(parts, 1):
            writer.write(sse(part))
            await writer.drain()
            await handshake.wait_for(base + number)
        if stall:
            await asyncio.sleep(3600)
        if finish:
            writer.write(sse(finish="stop") + b"data: [DONE]\n\n")
            await writer.drain()

    return run


def two_way_splits(key: str) -> tuple[list[str], str]:
    """The key split at every position into two pieces, each occurrence between plain words."""
    parts: list[str] = []
    for cut in range(1, len(key)):
        parts += [f"[{cut}] {key[:cut]}", f"{key[cut:]} ok. "]
    return parts, "".join(parts)


def three_way_splits(key: str) -> tuple[list[str], str]:
    """The key split at every pair of positions into three pieces."""
    parts: list[str] = []
    for a, b in itertools.combinations(range(1, len(key)), 2):
        parts += [f"<{a},{b}>{key[:a]}", key[a:b], f"{key[b:]}. "]
    return parts, "".join(parts)


# -- the redactor alone --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cut", range(1, len(SECRET)))
def test_a_key_cut_in_two_is_masked_and_the_rest_is_unchanged(cut):
    stream = StreamRedactor([SECRET])
    shown = [stream.feed(f"before {SECRET[:cut]}"), stream.feed(f"{SECRET[cut:]} after"), stream.flush()]
    assert "".join(shown) == f"before {MASK} after"
    assert shown[0] == "before ", "the key's start was held back, the plain text before it was not"


def test_a_key_cut_in_three_at_every_pair_of_positions_is_masked():
    for a, b in itertools.combinations(range(1, len(SECRET)), 2):
        stream = StreamRedactor([SECRET])
        pieces = [f"x{SECRET[:a]}", SECRET[a:b], f"{SECRET[b:]}y"]
        shown = "".join([*(stream.feed(p) for p in pieces), stream.flush()])
        assert shown == f"x{MASK}y", (a, b)


def test_a_key_fed_one_character_at_a_time_is_masked():
    stream = StreamRedactor([SECRET, "short-key"])
    text = f"a {SECRET} b short-key c {SECRET[:-1]} d"
    shown = "".join([*(stream.feed(ch) for ch in text), stream.flush()])
    assert shown == redact(text, [SECRET, "short-key"]) == f"a {MASK} b {MASK} c {SECRET[:-1]} d"


def test_only_a_possible_key_start_is_held_back():
    """Latency: plain text goes out at once; only a tail that could begin a key waits for the next piece."""
    stream = StreamRedactor([SECRET])
    assert stream.feed("Once upon a time") == "Once upon a time" and stream.held == ""
    assert stream.feed(" the sk") == " the " and stream.held == "sk"
    assert stream.feed("y was blue") == "sky was blue" and stream.held == ""
    assert stream.feed(f"{SECRET[:-1]}") == "" and len(stream.held) == len(SECRET) - 1  # the most ever held
    assert stream.flush() == SECRET[:-1] and stream.held == ""


def test_a_key_inside_a_longer_key_and_keys_that_share_a_start():
    keys = sorted(["sk-aaaa-1111", "sk-aaaa-2222", "aaaa-1"], key=len, reverse=True)
    text = "1 sk-aaaa-1111 2 sk-aaaa-2222 3 sk-aaaa-3333 4 aaaa-1 5"
    for size in (1, 2, 3, 5, 7):
        stream = StreamRedactor(keys)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        shown = "".join([*(stream.feed(p) for p in pieces), stream.flush()])
        assert shown == redact(text, keys), size
        assert not any(k in shown for k in keys)


# -- the real path: the command line's stdout and the runtime's text events ---------------------------------------
def _cli_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_OUTPUT_DIR", str(tmp_path / "out"))


def test_cli_stdout_never_shows_a_key_split_at_any_position_across_two_chunks(
    secret, guard, hostile, tmp_path, capsys, monkeypatch
):
    handshake = Handshake(monkeypatch)
    parts, whole = two_way_splits(secret)
    server = hostile(streaming_server(parts, handshake))
    _cli_env(monkeypatch, tmp_path)
    code = main(["text", "--url", server.url, "--model", "m", "say it"])
    out, err = capsys.readouterr()
    assert handshake.seen == parts, "every piece reached the job service on its own"
    assert code == 0, err
    assert out == redact(whole) + "\n" == "".join(f"[{c}] {MASK} ok. " for c in range(1, len(secret))) + "\n"
    guard.assert_no_secret(out, err, files=tmp_path)


def test_cli_stdout_never_shows_a_key_split_at_any_two_positions_across_three_chunks(
    secret, guard, hostile, tmp_path, capsys, monkeypatch
):
    handshake = Handshake(monkeypatch)
    parts, whole = three_way_splits(secret)
    server = hostile(streaming_server(parts, handshake))
    _cli_env(monkeypatch, tmp_path)
    code = main(["text", "--url", server.url, "--model", "m", "say it"])
    out, err = capsys.readouterr()
    assert handshake.seen == parts
    assert code == 0, err
    assert out == redact(whole) + "\n"
    assert out.count(MASK) == len(parts) // 3
    guard.assert_no_secret(out, err, files=tmp_path)


def test_a_stream_cut_off_after_a_key_start_shows_that_start_and_then_the_error(
    secret, guard, hostile, tmp_path, capsys, monkeypatch
):
    """On error the held tail is released (it is not the key), before the error is printed."""
    handshake = Handshake(monkeypatch)
    server = hostile(streaming_server(["The end ", f"is {secret[:6]}"], handshake, finish=False))
    _cli_env(monkeypatch, tmp_path)
    code = main(["text", "--url", server.url, "--model", "m", "say it"])
    out, err = capsys.readouterr()
    assert code == 2 and "probably incomplete" in err
    assert out == f"The end is {secret[:6]}\n"
    guard.assert_no_secret(out, err, files=tmp_path)


def _runtime(server_url: str, tmp_path, events: queue.SimpleQueue) -> Runtime:
    settings = Settings(
        litellm=[Endpoint(service="litellm", url=server_url)],
        comfyui=[],
        wan2gp=[],
        data_dir=str(tmp_path / "data"),
        output_dir=str(tmp_path / "out"),
    )
    # As Blender builds it (events go to its dispatcher there), minus the health monitor.
    return Runtime(settings=lambda: settings, emit=events.put, monitor_health=False, reattach=False)


def _events_until_done(handle, events: queue.SimpleQueue) -> list:
    got = []
    handle.done.result(timeout=30)
    while True:
        try:
            got.append(events.get_nowait())
        except queue.Empty:
            return got


def test_runtime_text_events_as_blender_gets_them_mask_a_split_key_and_come_before_done(
    secret, guard, hostile, tmp_path, monkeypatch
):
    handshake = Handshake(monkeypatch)
    parts, whole = two_way_splits(secret)
    server = hostile(streaming_server(parts, handshake))
    events: queue.SimpleQueue = queue.SimpleQueue()
    runtime = _runtime(server.url, tmp_path, events)
    try:
        handle = runtime.submit({"task": "text", "service": "litellm", "inputs": {"prompt": "hi", "model": "m"}})
        got = _events_until_done(handle, events)
    finally:
        runtime.shutdown(2.0)
    texts = [e.text for e in got if getattr(e, "kind", "") == "text"]
    assert "".join(texts) == redact(whole)
    assert not any(secret in t for t in texts)
    states = [i for i, e in enumerate(got) if getattr(e, "kind", "") == "state" and e.state == "done"]
    last_text = max(i for i, e in enumerate(got) if getattr(e, "kind", "") == "text")
    assert states and last_text < states[0], "all text is shown before the job is done"
    assert handle.done.result()["text"] == redact(whole)
    guard.assert_no_secret(*texts, files=tmp_path)


def test_cancel_releases_the_held_start_of_a_key_before_the_job_is_cancelled(
    secret, guard, hostile, tmp_path, monkeypatch
):
    handshake = Handshake(monkeypatch)
    server = hostile(streaming_server(["Thinking... ", f"it is {secret[:9]}"], handshake, stall=True))
    events: queue.SimpleQueue = queue.SimpleQueue()
    runtime = _runtime(server.url, tmp_path, events)
    try:
        handle = runtime.submit({"task": "text", "service": "litellm", "inputs": {"prompt": "hi", "model": "m"}})
        for _ in range(2000):  # until the client has the second piece (bounded: 20 s)
            if len(handshake.seen) >= 2:
                break
            time.sleep(0.01)
        handle.cancel()
        got = _events_until_done(handle, events)
    finally:
        runtime.shutdown(2.0)
    kinds = [(e.kind, getattr(e, "state", None)) for e in got]
    texts = [e.text for e in got if e.kind == "text"]
    assert "".join(texts) == f"Thinking... it is {secret[:9]}"
    assert kinds.index(("state", "cancelled")) > max(i for i, k in enumerate(kinds) if k[0] == "text")
    guard.assert_no_secret(*texts, files=tmp_path)


def test_random_texts_cut_at_random_match_masking_the_whole_text():
    """Seeded: keys that share starts and sit inside one another, random text, random piece sizes."""
    import random

    rng = random.Random(15)
    keys = sorted(["sk-ab12", "sk-ab12345", "b123", "xyzw"], key=len, reverse=True)
    alphabet = "sk-ab12345xyzw "
    for _ in range(300):
        text = "".join(rng.choice([rng.choice(alphabet), rng.choice(keys)]) for _ in range(rng.randint(0, 60)))
        stream = StreamRedactor(keys)
        shown, at = [], 0
        while at < len(text):
            size = rng.randint(1, 9)
            shown.append(stream.feed(text[at : at + size]))
            at += size
        shown.append(stream.flush())
        joined = "".join(shown)
        assert not any(k in joined for k in keys), (text, shown)
        assert len(stream.held) == 0
