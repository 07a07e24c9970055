"""Hostile MCP endpoints: redirects to other hosts, floods, endless streams, wrong bodies. Clear errors, bounded.

Each server is a tiny aiohttp app on 127.0.0.1; the client is the real WanGP MCP channel with a 1 MB reply cap.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from genbridge.backends.wan2gp.rpc import McpRpc
from genbridge.runtime.errors import (
    GenBridgeError,
    IncompatibleServer,
    OnlineAccessRefused,
    ReplyTooLarge,
    ServerError,
    ServiceTimeout,
)
from genbridge.runtime.settings import Endpoint, Settings

SECRET = "sk-wan-hostile-KEY-0042"
INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "WanGP", "version": "1.10.1"}}


async def serve(handler, path: str = "/mcp"):
    app = web.Application()
    app.router.add_route("*", path, handler)
    app.router.add_route("*", path + "/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}{path}"


def rpc_for(url: str, tmp_path, **settings) -> McpRpc:
    s = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"), reply_limit_mb=1, **settings)
    return McpRpc(Endpoint(service="wan2gp", url=url, key=SECRET), s)


def answer(body: dict, result) -> web.Response:
    if "id" not in body:
        return web.Response(status=202)
    return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})


async def run_against(handler, tmp_path, **settings) -> tuple[GenBridgeError | None, object]:
    runner, url = await serve(handler)
    rpc = rpc_for(url, tmp_path, **settings)
    try:
        value = await asyncio.wait_for(rpc.list_tools(), timeout=20)
        return None, value
    except GenBridgeError as exc:
        return exc, None
    finally:
        await rpc.close()
        await runner.cleanup()


def assert_clean(error: GenBridgeError) -> None:
    assert SECRET not in str(error) and SECRET not in error.detail
    assert error.message and error.hint


async def test_a_redirect_to_another_host_is_refused_naming_the_hop_and_nothing_is_resent(tmp_path):
    async def handler(request):
        raise web.HTTPTemporaryRedirect("http://10.0.0.1:7866/mcp/")

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, OnlineAccessRefused)
    assert "redirected to http://10.0.0.1:7866/mcp/" in error.message and "not on this computer" in error.message
    assert_clean(error)


async def test_the_first_307_to_mcp_slash_is_followed_once_and_later_calls_post_there_directly(tmp_path):
    hits = {"/mcp": 0, "/mcp/": 0}

    async def handler(request):
        hits[request.path] += 1
        if request.path == "/mcp":
            raise web.HTTPTemporaryRedirect(str(request.url.with_path("/mcp/")))
        body = await request.json()
        return answer(body, INIT if body.get("method") == "initialize" else {"tools": [{"name": "x"}]})

    runner, url = await serve(handler)
    rpc = rpc_for(url, tmp_path)
    try:
        for _ in range(3):
            assert await rpc.list_tools() == [{"name": "x"}]
    finally:
        await rpc.close()
        await runner.cleanup()
    assert hits == {"/mcp": 1, "/mcp/": 5}  # initialize (after its redirect), initialized, 3 x tools/list
    assert rpc.url.endswith("/mcp/")


async def test_a_302_is_refused_because_it_would_drop_the_request(tmp_path):
    async def handler(request):
        raise web.HTTPFound(str(request.url.with_path("/elsewhere")))

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer) and "302" in error.message and "/elsewhere" in error.message


async def test_a_redirect_loop_ends_with_its_own_message(tmp_path):
    async def handler(request):
        raise web.HTTPTemporaryRedirect(str(request.url.with_path("/mcp/" if request.path == "/mcp" else "/mcp")))

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer) and "redirect loop" in error.message


async def test_a_json_reply_over_the_cap_stops_reading_with_the_cap_named(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"jsonrpc":"2.0","id":1,"result":{"tools":["')
        for _ in range(400):  # 40 MB, far past the 1 MB cap
            await resp.write(b"x" * 100_000)
        return resp

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, ReplyTooLarge) and "1 MB" in error.message
    assert_clean(error)


async def test_an_endless_event_stream_without_our_answer_stops_at_the_cap(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "y" * 1000}})
        for _ in range(5000):
            await resp.write(f"event: message\ndata: {note}\n\n".encode())
        return resp

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, ReplyTooLarge) and "1 MB" in error.message


async def test_an_event_stream_that_ends_without_an_answer_says_so(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        other = json.dumps({"jsonrpc": "2.0", "id": 999, "result": {}})
        return web.Response(text=f"data: {other}\n\n", content_type="text/event-stream")

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, ServerError) and "ended without an answer" in error.message


async def test_an_event_stream_answer_after_notifications_and_other_ids_is_found(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        result = INIT if body["method"] == "initialize" else {"tools": [{"name": "wangp_generate"}]}
        events = [
            ": keep-alive",
            "data: " + json.dumps({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}),
            "data: " + json.dumps({"jsonrpc": "2.0", "id": body["id"] + 100, "result": {}}),
            "event: message\r\ndata: " + json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result}),
        ]
        return web.Response(text="\n\n".join(events) + "\n\n", content_type="text/event-stream")

    error, tools = await run_against(handler, tmp_path)
    assert error is None and tools == [{"name": "wangp_generate"}]


async def test_json_nested_absurdly_deep_is_a_clear_error_not_a_crash(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        return web.Response(text="[" * 200_000 + "]" * 200_000, content_type="application/json")

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer | ServerError) and "GenBridge bug" not in str(error)
    assert_clean(error)


async def test_an_html_page_is_not_taken_for_wan2gp(tmp_path):
    async def handler(request):
        return web.Response(text="<html>router login</html>", content_type="text/html")

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer) and "not a JSON-RPC reply" in error.message
    assert "text/html" in error.message


@pytest.mark.parametrize("status", [400, 422])
async def test_a_4xx_names_the_servers_reason(status, tmp_path):
    async def handler(request):
        return web.json_response({"error": "Bad Request: unsupported protocol version"}, status=status)

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer) and "unsupported protocol version" in error.message


async def test_a_server_that_refuses_every_session_says_so_after_one_new_one(tmp_path):
    initializations = []

    async def handler(request):
        body = await request.json()
        if body.get("method") == "initialize":
            initializations.append(1)
            resp = answer(body, INIT)
            resp.headers["Mcp-Session-Id"] = f"s{len(initializations)}"
            return resp
        if "id" not in body:
            return web.Response(status=202)
        return web.json_response(
            {"jsonrpc": "2.0", "id": "server-error", "error": {"message": "Not Found"}}, status=404
        )

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer)
    assert "requires a session and refused ours" in error.message and len(initializations) == 2


async def test_a_stateful_server_that_gives_no_session_is_named_as_such(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        if body.get("method") == "initialize":
            return answer(body, INIT)
        return web.json_response(
            {"jsonrpc": "2.0", "id": "server-error", "error": {"message": "Bad Request: Missing session ID"}},
            status=400,
        )

    error, _ = await run_against(handler, tmp_path)
    assert isinstance(error, IncompatibleServer) and "requires a session but gave none" in error.message


async def test_an_event_stream_that_trickles_keep_alives_forever_ends_at_the_request_timeout(tmp_path):
    async def handler(request):
        body = await request.json()
        if "id" not in body:
            return web.Response(status=202)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        while True:  # never answers, never grows past the cap
            await resp.write(b": keep-alive\n\n")
            await asyncio.sleep(0.05)

    error, _ = await run_against(handler, tmp_path, timeouts={"request": 1.0, "connect": 1.0})
    assert isinstance(error, ServiceTimeout) and "did not answer initialize in time" in error.message
