"""Servers that are not what they claim (issue 15.9): a plain TCP echo, a redirect loop, a reply cut off midway,
a server that closes at once, redirects to another computer. Each gets its own message, never "GenBridge bug".

These drive the shared transport helpers in `backends/http.py` that every client uses for its mapping; the
per-backend suites (`test_<backend>_*.py`) drive each client.
"""

from __future__ import annotations

import aiohttp
import pytest
from genbridge.backends.http import (
    map_transport_error,
    read_json_capped,
    request_following_redirects,
)
from genbridge.runtime.errors import (
    GenBridgeError,
    IncompatibleServer,
    LocalProblem,
    OnlineAccessRefused,
    ReplyTooLarge,
    ServerError,
    ServiceTimeout,
    Unreachable,
    error_from_exception,
)
from genbridge.runtime.netpolicy import MAX_REDIRECTS

pytestmark = pytest.mark.timeout(30)

BUG = "GenBridge bug"


async def _get(url: str, **kwargs):
    """One GET through the shared redirect-following helper; returns the JSON body."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with request_following_redirects(
            session, "GET", url, online_access=False, service="comfyui", **kwargs
        ) as resp:
            return await read_json_capped(resp, 1024 * 1024, service="comfyui", what="status reply")


async def test_a_plain_tcp_echo_server_is_named_as_not_http(hostile, scripts):
    server = hostile(scripts.echo())
    with pytest.raises(IncompatibleServer) as info:
        await _get(f"{server.url}/system_stats")
    assert "did not answer in HTTP" in info.value.message and "port" in info.value.hint
    assert server.url in info.value.message


async def test_a_reply_cut_off_midway_says_so(hostile, scripts):
    server = hostile(scripts.close_mid_reply())
    with pytest.raises(ServerError) as info:
        await _get(f"{server.url}/system_stats")
    assert "stopped in the middle of its reply" in info.value.message


async def test_a_server_that_closes_without_answering_says_so(hostile, scripts):
    server = hostile(scripts.close_at_once())
    with pytest.raises(Unreachable) as info:
        await _get(f"{server.url}/system_stats")
    assert "closed the connection without answering" in info.value.message


async def test_a_redirect_loop_stops_after_the_hop_limit(hostile, scripts):
    server = hostile(scripts.redirect_to("/again", status=302))
    with pytest.raises(ServerError) as info:
        await _get(f"{server.url}/system_stats")
    assert f"more than {MAX_REDIRECTS} times" in info.value.message and "loop" in info.value.message
    assert len(server.requests) == MAX_REDIRECTS + 1, "bounded: the loop was not followed forever"


async def test_a_redirect_to_another_computer_is_refused_before_connecting(hostile, scripts):
    server = hostile(scripts.redirect_to("http://10.255.255.1:8188/system_stats", status=307))
    with pytest.raises(OnlineAccessRefused) as info:
        await _get(f"{server.url}/system_stats")
    assert "10.255.255.1" in info.value.message and "not followed" in info.value.message


async def test_a_redirect_with_credentials_is_refused(hostile, scripts):
    server = hostile(scripts.redirect_to(lambda s: f"http://u:pw-secret@127.0.0.1:{s.port}/x"))
    with pytest.raises(OnlineAccessRefused) as info:
        await _get(f"{server.url}/system_stats")
    assert "pw-secret" not in str(info.value)


async def test_a_redirect_on_loopback_is_followed(hostile, scripts):
    target = hostile(scripts.answer(200, b'{"ok": true}', {"Content-Type": "application/json"}))
    server = hostile(scripts.redirect_to(f"{target.url}/final", status=308))
    assert await _get(f"{server.url}/start") == {"ok": True}
    assert target.requests[0].startswith(b"GET /final ")


async def test_a_post_redirected_with_303_becomes_a_get_without_the_body(hostile, scripts):
    target = hostile(scripts.answer(200, b"{}", {"Content-Type": "application/json"}))
    server = hostile(scripts.redirect_to(f"{target.url}/next", status=303))
    async with aiohttp.ClientSession() as session:
        async with request_following_redirects(
            session, "POST", f"{server.url}/prompt", online_access=False, json={"prompt": "secret-body"}
        ) as resp:
            assert resp.status == 200
    assert target.requests[0].startswith(b"GET /next ") and b"secret-body" not in target.requests[0]


async def test_an_endless_json_body_stops_at_the_cap_with_bounded_memory(hostile, scripts, guard):
    server = hostile(scripts.flood())
    with guard.memory_bound(24), pytest.raises(ReplyTooLarge) as info:
        await _get(f"{server.url}/history")
    assert "1 MB limit" in info.value.message or "limit" in info.value.message


async def test_deeply_nested_json_from_a_server_is_a_clear_error(hostile, scripts):
    body = b"[" * 200_000 + b"]" * 200_000
    server = hostile(scripts.answer(200, body, {"Content-Type": "application/json"}))
    with pytest.raises(ServerError) as info:
        await _get(f"{server.url}/history")
    assert "nested too deeply" in info.value.message and BUG not in str(info.value)


async def test_a_server_that_never_answers_hits_the_deadline(hostile, scripts):
    server = hostile(scripts.stall())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        with pytest.raises(ServiceTimeout) as info:
            async with request_following_redirects(
                session, "GET", f"{server.url}/x", online_access=False, service="litellm"
            ):
                pass
    assert "LiteLLM" in info.value.message and "did not answer in time" in info.value.message


async def test_a_refused_connection_names_the_service_and_address():
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Unreachable) as info:
            async with request_following_redirects(
                session, "GET", "http://127.0.0.1:9/x", online_access=False, service="wan2gp"
            ):
                pass
    assert "WanGP" in info.value.message and "127.0.0.1:9" in info.value.message


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (OSError(28, "No space left on device", "/out/a.png"), LocalProblem, "no space left"),
        (OSError(36, "File name too long", "/out/" + "x" * 300), LocalProblem, "too long"),
        (NotADirectoryError(20, "Not a directory", "/out/file/x.png"), LocalProblem, "a file is where a folder"),
        (PermissionError(13, "Permission denied", "/out/x.png"), LocalProblem, "permission"),
        (ConnectionRefusedError(111, "Connection refused"), Unreachable, "Could not reach"),
        (RecursionError("maximum recursion depth exceeded"), GenBridgeError, "nested too deeply"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), GenBridgeError, "UTF-8"),
    ],
)
def test_common_failures_become_clear_errors_not_bugs(exc, kind, words):
    err = error_from_exception(exc, service="comfyui")
    assert isinstance(err, kind) and words.lower() in str(err).lower() and BUG not in str(err)


def test_local_problems_never_fall_back_to_another_backend():
    err = map_transport_error(OSError(28, "No space left on device", "/out/a.png"), service="comfyui")
    assert isinstance(err, LocalProblem) and not err.fallback_ok


async def test_the_key_is_not_handed_to_another_port_a_redirect_names(hostile, scripts):
    target = hostile(scripts.answer(200, b"{}", {"Content-Type": "application/json"}))
    server = hostile(scripts.redirect_to(f"{target.url}/elsewhere", status=307))
    async with aiohttp.ClientSession() as session:
        async with request_following_redirects(
            session, "GET", f"{server.url}/x", online_access=False, headers={"Authorization": "Bearer sk-k3y-xyz"}
        ) as resp:
            assert resp.status == 200
    assert b"sk-k3y-xyz" in server.requests[0] and b"sk-k3y-xyz" not in target.requests[0]


def test_a_reply_of_an_unexpected_shape_is_named_as_such_not_as_a_bug():
    from pydantic import BaseModel, ValidationError

    class Reply(BaseModel):
        queue_running: list[int]

    with pytest.raises(ValidationError) as info:
        Reply.model_validate({"queue_running": "sk-not-a-list-secret"})
    err = error_from_exception(info.value, service="comfyui")
    assert "unexpected shape" in err.message and "queue_running" in err.message
    assert BUG not in str(err) and "sk-not-a-list-secret" not in str(err)


@pytest.mark.parametrize("script", ["echo", "close_mid_reply", "close_at_once"])
async def test_the_comfyui_client_maps_transport_failures_through_the_shared_mapper(tmp_path, hostile, scripts, script):
    from genbridge.backends.comfyui import ComfyUIClient
    from genbridge.runtime.settings import Endpoint, Settings, Timeouts

    server = hostile(getattr(scripts, script)())
    settings = Settings(output_dir=str(tmp_path / "out"), timeouts=Timeouts(connect=1, request=2, silence=2))
    client = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)
    try:
        result = await client.probe()
    finally:
        await client.close()
    expected = {
        "echo": "did not answer in HTTP",
        "close_mid_reply": "stopped in the middle of its reply",
        "close_at_once": "closed the connection without answering",
    }[script]
    assert not result.reachable and expected in result.error.message and BUG not in result.error.hint


async def test_the_wan2gp_client_names_a_server_that_is_not_http(tmp_path, hostile, scripts):
    from genbridge.backends.wan2gp import Wan2GPClient
    from genbridge.runtime.settings import Endpoint, Settings, Timeouts

    server = hostile(scripts.echo())
    settings = Settings(output_dir=str(tmp_path / "out"), timeouts=Timeouts(connect=1, request=2, silence=2))
    client = Wan2GPClient(Endpoint(service="wan2gp", url=f"{server.url}/mcp"), settings)
    try:
        result = await client.probe()
    finally:
        await client.close()
    assert not result.reachable and "did not answer in HTTP" in result.error.message
    assert "Bad status line" not in result.error.message


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo", "did not answer in HTTP"),
        ("close_mid_reply", "stopped in the middle of its reply"),
        ("close_at_once", "closed the connection without answering"),
    ],
)
async def test_the_litellm_client_names_broken_replies(tmp_path, hostile, scripts, script, expected):
    from genbridge.backends.litellm.client import LiteLLMClient
    from genbridge.runtime.settings import Endpoint, Settings, Timeouts

    server = hostile(getattr(scripts, script)())
    settings = Settings(output_dir=str(tmp_path / "out"), timeouts=Timeouts(connect=1, request=2, silence=2))
    client = LiteLLMClient(Endpoint(service="litellm", url=server.url), settings)
    try:
        with pytest.raises(GenBridgeError) as info:
            await client.complete([{"role": "user", "content": "hi"}], "m")
    finally:
        await client.close()
    assert expected in info.value.message and BUG not in str(info.value)
