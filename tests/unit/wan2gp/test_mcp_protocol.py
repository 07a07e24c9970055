"""The MCP protocol layer against the MCP SDK's own server (FastMCP, in all three modes) and the WanGP stand-in.

Modes: JSON replies stateless (WanGP 12.x), SSE replies stateless, SSE replies with sessions (the SDK's default).
The same tests pass against every server: initialize, tools/list, tools/call, tool errors, a job through the client.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from genbridge.backends.wan2gp import Wan2GPClient
from genbridge.backends.wan2gp.contract import detect_contract
from genbridge.backends.wan2gp.rpc import McpRpc, ToolError
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.wan2gp import Wan2GPStandIn

SDK_SERVER = Path(__file__).with_name("mcp_sdk_server.py")
SDK_MODES = {
    "sdk-json-stateless": ("json", "stateless"),
    "sdk-sse-stateless": ("sse", "stateless"),
    "sdk-sse-stateful": ("sse", "stateful"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sdk_server(reply_form: str, state: str):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SDK_SERVER), str(port), reply_form, state],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # up to 60 s on a loaded machine; returns as soon as the port answers
            if proc.poll() is not None:
                raise RuntimeError(f"the MCP SDK server exited: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module", params=[*SDK_MODES, "standin-v1", "standin-v2"])
def server_url(request, tmp_path_factory):
    if request.param in SDK_MODES:
        with sdk_server(*SDK_MODES[request.param]) as url:
            yield request.param, url
    else:
        standin = Wan2GPStandIn(contract=request.param.split("-")[1], output_dir=tmp_path_factory.mktemp("wan2gp"))
        with standin.run_in_thread() as url:
            yield request.param, url


def _rpc(url: str, tmp_path) -> McpRpc:
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    return McpRpc(Endpoint(service="wan2gp", url=url), settings)


async def test_initialize_agrees_a_protocol_version_and_keeps_a_session_only_where_the_server_has_one(
    server_url, tmp_path
):
    mode, url = server_url
    rpc = _rpc(url, tmp_path)
    try:
        info = await rpc.initialize()
        session_id = rpc.session_id
    finally:
        await rpc.close()
    assert info["serverInfo"]["name"] == "WanGP" and info["protocolVersion"] == rpc.protocol_version
    assert (session_id is not None) == (mode == "sdk-sse-stateful")


async def test_tools_list_and_tools_call_work_and_pick_a_contract(server_url, tmp_path):
    _, url = server_url
    rpc = _rpc(url, tmp_path)
    try:
        tools = await rpc.list_tools()
        contract = detect_contract(tools, url)
        tool, args = contract.model_schema("t2v")
        schema = await rpc.call_tool(tool, args)
    finally:
        await rpc.close()
    assert {"wangp_generate"} <= {t["name"] for t in tools}
    assert schema["metadata"]["frames_steps"] == 4


async def test_a_tool_error_is_a_tool_error_with_the_servers_text(server_url, tmp_path):
    _, url = server_url
    rpc = _rpc(url, tmp_path)
    try:
        contract = detect_contract(await rpc.list_tools(), url)
        with pytest.raises(ToolError) as caught:
            await rpc.call_tool(*contract.get_job("deadbeef", 0))
    finally:
        await rpc.close()
    assert caught.value.unknown_job and "deadbeef" in caught.value.text


async def test_a_submitted_job_comes_back_with_its_id_even_after_a_notification_in_the_stream(server_url, tmp_path):
    _, url = server_url
    rpc = _rpc(url, tmp_path)
    try:
        contract = detect_contract(await rpc.list_tools(), url)
        snapshot = await rpc.call_tool(*contract.generate({"model_type": "t2v", "prompt": "a boat"}, 0))
        again = await rpc.call_tool(*contract.get_job(snapshot["job_id"], 0))
    finally:
        await rpc.close()
    assert again["job_id"] == snapshot["job_id"] and len(snapshot["job_id"]) == 32


async def test_the_client_validates_a_job_against_the_servers_model(server_url, tmp_path):
    _, url = server_url
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    client = Wan2GPClient(Endpoint(service="wan2gp", url=url), settings)
    try:
        job = Job(task="video", inputs={"model": "t2v", "prompt": "a boat", "frames": 17, "steps": 2})
        assert await client.validate(job) == []
        probe = await client.probe()
    finally:
        await client.close()
    assert probe.reachable, probe.error


@pytest.fixture(scope="module")
def stateful_url():
    with sdk_server("sse", "stateful") as url:
        yield url


async def test_a_session_the_server_dropped_is_replaced_once_and_the_call_succeeds(stateful_url, tmp_path):
    rpc = _rpc(stateful_url, tmp_path)
    try:
        await rpc.initialize()
        first = rpc.session_id
        rpc.session_id = "0" * 32  # as if the server restarted and forgot ours: it answers 404
        tools = await rpc.list_tools()
    finally:
        await rpc.close()
    assert tools and rpc.session_id is None and first


async def test_closing_the_client_ends_the_session_on_the_server(stateful_url, tmp_path):
    rpc = _rpc(stateful_url, tmp_path)
    await rpc.initialize()
    session_id = rpc.session_id
    await rpc.close()
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Session-Id": session_id,
        "MCP-Protocol-Version": "2025-06-18",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(stateful_url, json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, headers=headers) as resp,
    ):
        assert resp.status == 404  # the DELETE ended it


async def test_requests_without_our_session_are_refused_by_a_stateful_server(stateful_url):
    """What the server does without the session id: why every request must carry it."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(stateful_url, json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, headers=headers) as resp,
    ):
        assert resp.status == 400


async def test_initializing_again_ends_the_previous_session_first(stateful_url, tmp_path):
    rpc = _rpc(stateful_url, tmp_path)
    try:
        await rpc.initialize()
        first = rpc.session_id
        await rpc.initialize()  # what every probe does
        assert rpc.session_id != first and await rpc.list_tools()
    finally:
        await rpc.close()
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Session-Id": first,
        "MCP-Protocol-Version": "2025-06-18",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(stateful_url, json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, headers=headers) as resp,
    ):
        assert resp.status == 404  # no session left behind on the server
