"""Hostile "ComfyUI" servers (issue 15 for the ComfyUI client): redirects to other computers, floods, endless and
absurdly nested replies, stalled downloads, refused handshakes, servers that echo the key or are not HTTP at all.

Each asserts the message a user sees, that nothing lands outside the output folder, that the key never shows,
and that memory stays bounded. Servers are small aiohttp apps (or the suite's raw TCP server) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from genbridge.backends.comfyui import ComfyUIClient
from genbridge.runtime.errors import (
    GenBridgeError,
    IncompatibleServer,
    OnlineAccessRefused,
    ReplyTooLarge,
    ServerError,
    ServiceTimeout,
)
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts

pytestmark = pytest.mark.timeout(30)

STATS = {"system": {"comfyui_version": "0.3.64"}, "devices": []}
FAR = "http://10.255.255.1:8188"  # never contacted: the host rule refuses it first


async def serve(routes: dict[tuple[str, str], object]):
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def client_for(url: str, tmp_path, *, key: str | None = None, **timeouts: float) -> ComfyUIClient:
    t = {"connect": 1.0, "request": 2.0, "silence": 2.0, "download": 5.0, **timeouts}
    settings = Settings(
        output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"), reply_limit_mb=1, timeouts=Timeouts(**t)
    )
    return ComfyUIClient(Endpoint(service="comfyui", url=url, key=key), settings)


def json_reply(body: object):
    async def handler(request):
        return web.json_response(body)

    return handler


def redirect(location: str, status: int = 307):
    async def handler(request):
        return web.Response(status=status, headers={"Location": location})

    return handler


async def probe_error(routes, tmp_path, **kw) -> GenBridgeError:
    runner, url = await serve(routes)
    client = client_for(url, tmp_path, **kw)
    try:
        with pytest.raises(GenBridgeError) as info:
            await client._ensure_server()
        result = await client.probe()
        assert not result.reachable and result.error is not None and result.error.message == info.value.message
        return info.value
    finally:
        await client.close()
        await runner.cleanup()


# ---- redirects ---------------------------------------------------------------------------------------------------


async def test_a_redirect_to_another_computer_is_refused_and_named(tmp_path, guard):
    err = await probe_error({("GET", "/system_stats"): redirect(FAR + "/system_stats")}, tmp_path)
    assert isinstance(err, OnlineAccessRefused)
    assert "10.255.255.1" in err.message and "not followed" in err.message and err.endpoint.startswith("http://127")


async def test_a_redirect_to_another_loopback_port_is_followed(tmp_path):
    runner2, other = await serve({("GET", "/system_stats"): json_reply(STATS), ("GET", "/features"): json_reply({})})
    runner, url = await serve(
        {("GET", "/system_stats"): redirect(other + "/system_stats"), ("GET", "/features"): json_reply({})}
    )
    client = client_for(url, tmp_path)
    try:
        stats = await client._ensure_server()
        assert stats.system.comfyui_version == "0.3.64"
    finally:
        await client.close()
        await runner.cleanup()
        await runner2.cleanup()


async def test_a_redirect_loop_is_cut_with_its_own_message(tmp_path):
    err = await probe_error({("GET", "/system_stats"): redirect("/system_stats", 302)}, tmp_path)
    assert isinstance(err, ServerError) and "redirected more than 5 times" in err.message


async def test_a_redirect_carrying_credentials_is_refused(tmp_path):
    err = await probe_error({("GET", "/system_stats"): redirect("http://user:pw@127.0.0.1:9/x")}, tmp_path)
    assert isinstance(err, OnlineAccessRefused) and "pw" not in err.message


async def test_a_view_redirect_to_another_computer_writes_nothing(tmp_path, guard):
    from genbridge.backends.comfyui.download import download

    runner, url = await serve({("GET", "/view"): redirect(FAR + "/view?filename=x.png")})
    client = client_for(url, tmp_path)
    dest = tmp_path / "out" / "job"
    try:
        with pytest.raises(OnlineAccessRefused, match=r"10\.255\.255\.1"):
            await download(client.http, {"filename": "x.png"}, dest / "x.png", limit_bytes=10**6, deadline_s=5)
    finally:
        await client.close()
        await runner.cleanup()
    assert guard.written_outside(dest) == [] and not list(dest.glob("*.png"))


async def test_a_prompt_redirect_to_another_computer_never_sends_the_workflow(tmp_path, helpers_graph):
    routes = {
        ("GET", "/system_stats"): json_reply(STATS),
        ("GET", "/features"): json_reply({}),
        ("GET", "/ws"): _ws_handler,
        ("POST", "/prompt"): redirect(FAR + "/prompt"),
    }
    runner, url = await serve(routes)
    client = client_for(url, tmp_path)
    try:
        with pytest.raises(OnlineAccessRefused, match=r"10\.255\.255\.1") as info:
            await client.submit(Job(task="image", inputs={"workflow": helpers_graph}))
        assert info.value.remote_id  # the refused job is named
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_websocket_redirect_to_another_computer_stops_the_socket(tmp_path):
    from genbridge.backends.comfyui.socket import ComfySocket

    runner, url = await serve({("GET", "/ws"): redirect(FAR.replace("http", "ws") + "/ws")})
    sock = ComfySocket("ws" + url[4:] + "/ws?clientId=x", connect_timeout=3.0)
    try:
        with pytest.raises(OnlineAccessRefused, match=r"10\.255\.255\.1"):
            await sock.ensure_started()
        assert sock._task is not None and sock._task.done()
    finally:
        await sock.close()
        await runner.cleanup()


# ---- size caps, floods, nesting -------------------------------------------------------------------------------------


async def test_a_huge_history_reply_stops_at_the_reply_cap(tmp_path, guard):
    from genbridge.backends.comfyui import status

    async def history(request):  # 8 MB of JSON, streamed so the server itself holds little
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"x": "')
        for _ in range(128):
            await resp.write(b"a" * 65536)
        await resp.write(b'"}')
        return resp

    runner, url = await serve({("GET", "/history/{pid}"): history})
    client = client_for(url, tmp_path)
    try:
        with guard.memory_bound(6), pytest.raises(ReplyTooLarge) as info:
            await status.history(client.http, "p")
    finally:
        await client.close()
        await runner.cleanup()
    assert "1 MB limit" in info.value.message and "reply_limit_mb" in info.value.hint


async def test_an_endless_system_stats_body_stops_at_the_cap(tmp_path, hostile, scripts, guard):
    server = hostile(scripts.flood(chunk=b" " * 65536))
    client = client_for(server.url, tmp_path)
    try:
        with guard.memory_bound(8), pytest.raises(ReplyTooLarge):
            await client._ensure_server()
    finally:
        await client.close()


async def test_json_nested_200000_deep_is_a_clear_error(tmp_path):
    async def deep(request):
        return web.Response(body=b"[" * 200_000 + b"]" * 200_000, content_type="application/json")

    err = await probe_error({("GET", "/system_stats"): deep}, tmp_path)
    assert isinstance(err, ServerError) and "nested too deeply" in err.message and "bug" not in err.hint


async def test_an_html_page_is_not_comfyui(tmp_path):
    async def html(request):
        return web.Response(text="<html>hello</html>", content_type="text/html")

    err = await probe_error({("GET", "/system_stats"): html}, tmp_path)
    assert isinstance(err, IncompatibleServer) and "did not answer like ComfyUI" in err.message


async def test_a_plain_tcp_echo_server_gets_a_clear_error(tmp_path, hostile, scripts):
    server = hostile(scripts.echo())
    client = client_for(server.url, tmp_path)
    try:
        result = await client.probe()
    finally:
        await client.close()
    assert not result.reachable and "bug" not in (result.error.hint if result.error else "bug")


# ---- deadlines ---------------------------------------------------------------------------------------------------


async def test_a_download_that_keeps_stalling_ends_at_one_deadline(tmp_path, guard):
    from genbridge.backends.comfyui.download import download

    async def trickle(request):
        resp = web.StreamResponse(headers={"Content-Length": "1000000"})
        await resp.prepare(request)
        await resp.write(b"x" * 100)
        await asyncio.sleep(3600)
        return resp

    runner, url = await serve({("GET", "/view"): trickle})
    client = client_for(url, tmp_path, request=0.3, download=1.0)
    dest = tmp_path / "out" / "job"
    try:
        with pytest.raises(ServiceTimeout, match=r"within 1 s"):
            await download(client.http, {"filename": "x.bin"}, dest / "x.bin", limit_bytes=10**7, deadline_s=1.0)
    finally:
        await client.close()
        await runner.cleanup()
    assert guard.written_outside(dest) == []


async def test_a_server_that_never_answers_times_out_with_the_path(tmp_path, hostile, scripts):
    server = hostile(scripts.stall())
    client = client_for(server.url, tmp_path, request=0.5)
    try:
        with pytest.raises(ServiceTimeout, match="/system_stats"):
            await client._ensure_server()
    finally:
        await client.close()


# ---- secrets -----------------------------------------------------------------------------------------------------


async def test_a_server_that_echoes_the_key_never_gets_it_shown(tmp_path, hostile, scripts, secret, guard):
    server = hostile(scripts.echo_authorization(500))
    client = client_for(server.url, tmp_path, key=secret)
    try:
        with pytest.raises(ServerError) as info:
            await client._ensure_server()
        result = await client.probe()
    finally:
        await client.close()
    guard.assert_no_secret(str(info.value), info.value.detail, json.dumps(result.model_dump(mode="json")))
    assert b"Bearer " + secret.encode() in server.requests[0]  # it was sent, as configured, to that server only


# ---- helpers -----------------------------------------------------------------------------------------------------


async def _ws_handler(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "x"}})
    async for _ in ws:
        pass
    return ws


@pytest.fixture
def helpers_graph():
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }


async def test_an_output_folder_that_is_a_file_is_a_local_problem_never_a_fallback(tmp_path, guard):
    from genbridge.runtime.errors import LocalProblem
    from genbridge.standins.comfyui import ComfyUIStandIn

    blocker = tmp_path / "out-is-a-file"
    blocker.write_text("not a folder")
    async with ComfyUIStandIn(root=tmp_path / "comfy") as server:
        client = client_for(server.url, tmp_path)
        graph = {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 9}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
        }
        job = Job(task="image", inputs={"workflow": graph})
        try:
            await client.submit(job)
            [e async for e in client.events(job)]
            with pytest.raises(LocalProblem) as info:
                await client.fetch_outputs(job, blocker / "job")
        finally:
            await client.close()
    assert "out-is-a-file" in info.value.message and not info.value.fallback_ok
    assert blocker.read_text() == "not a folder"
