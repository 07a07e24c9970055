"""Hostile servers at the LiteLLM client's requests: redirects, trickles, floods, deep JSON, refused formats."""

from __future__ import annotations

import asyncio
import json

from genbridge.runtime.errors import GenBridgeError
from genbridge.runtime.events import BackendLog
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts
from genbridge.workflows.text.jobs import TextJobClient

COMPLETION = json.dumps(
    {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}
).encode()


def make(url: str, tmp_path, *, request_s: float = 5.0, reply_mb: int = 32, key: str | None = None) -> TextJobClient:
    settings = Settings(
        timeouts=Timeouts(connect=2.0, request=request_s), reply_limit_mb=reply_mb, output_dir=str(tmp_path / "o")
    )
    return TextJobClient(Endpoint(service="litellm", url=url, key=key), settings)


def reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def probe(client: TextJobClient):
    try:
        return await client.probe()
    finally:
        await client.close()


async def test_a_redirect_to_another_computer_is_refused_naming_the_hop(hostile, scripts, tmp_path, guard) -> None:
    server = hostile(scripts.redirect_to("http://10.255.255.1:4000/health/liveliness"))
    result = await probe(make(server.url, tmp_path))
    assert result.error is not None and result.error.code == "online_access"
    assert "redirected to http://10.255.255.1:4000" in result.error.message and "not followed" in result.error.message
    assert not guard.written_outside(tmp_path)


async def test_a_redirect_loop_ends_with_a_clear_message(hostile, scripts, tmp_path) -> None:
    server = hostile(scripts.redirect_to(lambda s: f"{s.url}/again", status=302))
    result = await probe(make(server.url, tmp_path))
    assert result.error is not None and "redirected more than 5 times" in result.error.message
    assert len(server.requests) == 6


async def test_a_chat_redirect_to_another_loopback_port_is_followed_without_the_key(
    hostile, scripts, tmp_path, secret
) -> None:
    target = hostile(scripts.answer(200, COMPLETION, {"Content-Type": "application/json"}))
    first = hostile(scripts.redirect_to(f"{target.url}/v1/chat/completions", status=307))
    client = make(first.url, tmp_path, key=secret)
    try:
        assert await client.complete([{"role": "user", "content": "hi"}], "m") == "hello"
    finally:
        await client.close()
    assert secret.encode() in first.requests[0]  # the configured server gets the key
    assert target.requests and secret.encode() not in target.requests[0]  # another origin never does
    assert b'"model": "m"' in target.requests[0]  # the 307 re-sent the body


async def test_a_trickling_liveliness_probe_ends_at_the_total_deadline(hostile, tmp_path) -> None:
    async def trickle(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while True:  # one byte every 0.1 s: never silent long enough for a gap timeout
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    server = hostile(trickle)
    result = await probe(make(server.url, tmp_path, request_s=1.0))
    assert result.error is not None and result.error.code == "timeout"
    assert "did not answer in time" in result.error.message


async def test_an_endless_model_list_stops_at_the_reply_cap(hostile, scripts, tmp_path, guard) -> None:
    async def models_flood(reader, writer, server):
        request = await server.read_request(reader)
        if b"/health/" in request:
            writer.write(reply(404, b"{}"))
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        while True:
            writer.write(b'{"id": "m", "object": "model"},' * 2000)
            await writer.drain()

    server = hostile(models_flood)
    with guard.memory_bound(30):
        result = await probe(make(server.url, tmp_path, reply_mb=1))
    assert result.error is not None and result.error.code == "reply_too_large"
    assert "larger than the 1 MB limit" in result.error.message


async def test_json_nested_200000_deep_is_a_clear_error(hostile, scripts, tmp_path) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    server = hostile(scripts.answer(200, deep, {"Content-Type": "application/json"}))
    client = make(server.url, tmp_path)
    try:
        await client.list_models()
    except GenBridgeError as exc:
        assert "nested too deeply" in exc.message or "cannot read" in exc.message or "not offer" in exc.message
        assert "GenBridge bug" not in exc.message
    else:
        raise AssertionError("a 200,000-deep model list was accepted")
    finally:
        await client.close()


async def test_an_unknown_model_error_lists_the_models_fetched_for_it(hostile, tmp_path) -> None:
    async def no_such_model(reader, writer, server):
        request = await server.read_request(reader)
        if b"GET /v1/models" in request:
            body = json.dumps({"data": [{"id": "alpha"}, {"id": "beta"}], "object": "list"}).encode()
            writer.write(reply(200, body, {"Content-Type": "application/json"}))
        else:
            body = b'{"error": {"message": "Invalid model name passed in model=m.", "type": "invalid_request_error"}}'
            writer.write(reply(400, body, {"Content-Type": "application/json"}))

    server = hostile(no_such_model)
    client = make(server.url, tmp_path)
    job = Job(task="text", inputs={"prompt": "hi", "model": "m", "stream": False})
    await client.submit(job)
    try:
        async for _ in client.events(job):
            pass
    except GenBridgeError as exc:
        assert "has no model named 'm'. It has: alpha, beta." in exc.message
        assert "--model" in exc.hint and "GENBRIDGE_TEXT_MODEL" in exc.hint
        assert exc.endpoint == server.url  # type: ignore[attr-defined]
    else:
        raise AssertionError("an unknown model was accepted")
    finally:
        await client.close()


def _shotlist_server(refuse: tuple[str, ...]):
    """A server that refuses the named response_format types (as llama-cpp-python refuses json_schema)."""

    async def run(reader, writer, server):
        request = await server.read_request(reader)
        body = json.loads(request.split(b"\r\n\r\n", 1)[1] or b"{}")
        kind = (body.get("response_format") or {}).get("type", "none")
        if kind in refuse:
            error = {"error": {"message": f"response_format type '{kind}' is not supported", "type": "x"}}
            writer.write(reply(400, json.dumps(error).encode(), {"Content-Type": "application/json"}))
            return
        shots = {"shots": [{"description": f"A shot asked with {kind}", "duration": 3}]}
        answer = {"choices": [{"message": {"content": json.dumps(shots)}, "finish_reason": "stop"}]}
        writer.write(reply(200, json.dumps(answer).encode(), {"Content-Type": "application/json"}))

    return run


async def _shotlist(client: TextJobClient) -> tuple[list[str], str]:
    job = Job(task="shotlist", inputs={"text_task": "shotlist", "variables": {"logline": "x", "shots": "1"}})
    job.inputs.update(model="m", stream=False)
    await client.submit(job)
    notes = [e.message async for e in client.events(job) if isinstance(e, BackendLog)]
    return notes, client._parsed[job.id].shots[0].description


async def test_structured_output_falls_back_to_json_mode_then_prose_and_says_which(hostile, tmp_path) -> None:
    schema_only = hostile(_shotlist_server(refuse=("json_schema",)))
    client = make(schema_only.url, tmp_path)
    try:
        notes, described = await _shotlist(client)
    finally:
        await client.close()
    assert described == "A shot asked with json_object"
    assert any("refused json_schema" in n for n in notes) and notes[-1].startswith("Shot list asked for with JSON mode")

    nothing = hostile(_shotlist_server(refuse=("json_schema", "json_object")))
    client = make(nothing.url, tmp_path)
    try:
        notes, described = await _shotlist(client)
    finally:
        await client.close()
    assert described == "A shot asked with none" and notes[-1].startswith("Shot list asked for with a prose request")


async def test_structured_output_is_asked_with_the_shot_list_schema(hostile, tmp_path) -> None:
    server = hostile(_shotlist_server(refuse=()))
    client = make(server.url, tmp_path)
    try:
        notes, described = await _shotlist(client)
    finally:
        await client.close()
    sent = json.loads(server.requests[0].split(b"\r\n\r\n", 1)[1])
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["shots"]["maxItems"] == 1
    assert described == "A shot asked with json_schema" and "structured output" in notes[-1]


async def test_fewer_shots_than_asked_are_noted(hostile, tmp_path) -> None:
    server = hostile(_shotlist_server(refuse=()))
    client = make(server.url, tmp_path)
    job = Job(task="shotlist", inputs={"text_task": "shotlist", "variables": {"logline": "x", "shots": "3"}})
    job.inputs.update(model="m", stream=False)
    await client.submit(job)
    try:
        notes = [e.message async for e in client.events(job) if isinstance(e, BackendLog)]
    finally:
        await client.close()
    assert "The model planned 1 shot; 3 were asked." in notes
