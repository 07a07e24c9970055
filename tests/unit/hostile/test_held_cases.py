"""Cases from issue 15 that already held when it was filed, kept here so they stay held: every traversal trick in
ComfyUI file names, the download size cap, host checks for every client, and LiteLLM status codes.

(Redirects, floods, echo and HTML servers are in `test_transport.py` and the per-backend files; damaged journal
lines in `test_journal_damage.py`.)
"""

from __future__ import annotations

import pytest
from genbridge.backends import make_client
from genbridge.runtime.errors import DownloadTooLarge, UnsafePath
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts

pytestmark = pytest.mark.timeout(30)

FAR = {
    "comfyui": "http://10.255.255.1:8188",
    "wan2gp": "http://10.255.255.1:7866/mcp",
    "litellm": "http://10.255.255.1:4000",
}


def _settings(tmp_path, **extra):
    return Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        timeouts=Timeouts(connect=1.0, request=2.0, silence=2.0, download=5.0),
        **extra,
    )


@pytest.fixture
async def comfy(tmp_path):
    from genbridge.backends.comfyui import ComfyUIClient
    from genbridge.standins.comfyui import ComfyUIStandIn

    async with ComfyUIStandIn(root=tmp_path / "comfy") as server:
        client = ComfyUIClient(Endpoint(service="comfyui", url=server.url), _settings(tmp_path))
        try:
            yield server, client
        finally:
            await client.close()


def _fake_outputs(client, images):
    from genbridge.backends.comfyui.tracking import Track

    job = Job(task="image")
    track = Track.new(job.id, {})
    track.outputs = {"9": {"images": images}}
    client._tracks[job.id] = track
    return job


@pytest.mark.parametrize(
    ("subfolder", "filename"),
    [
        ("", "../escape.png"),
        ("../..", "x.png"),
        ("/etc", "passwd"),
        ("", "/etc/passwd"),
        ("", "..\\..\\escape.png"),
        ("", "C:\\Windows\\x.png"),
        ("C:", "x.png"),
        ("a/../../..", "x.png"),
        ("", "sub/../../x.png"),
        ("\\\\server\\share", "x.png"),
        ("", ".."),
    ],
)
async def test_comfyui_names_that_leave_the_output_folder_write_nothing(comfy, tmp_path, guard, subfolder, filename):
    _, client = comfy
    ok = {"filename": "fine.png", "subfolder": "", "type": "output"}
    job = _fake_outputs(client, [ok, {"filename": filename, "subfolder": subfolder, "type": "output"}])
    with pytest.raises(UnsafePath) as info:
        await client.fetch_outputs(job, tmp_path / "out" / "job")
    assert "server" in info.value.message
    assert not any((tmp_path / "out").rglob("*.png")), "one unsafe name means nothing is written"
    assert guard.written_outside(tmp_path / "out", tmp_path / "comfy") == []


async def test_comfyui_download_over_the_limit_stops_and_leaves_no_part(comfy, tmp_path, guard):
    server, client = comfy
    (server.output_dir / "big.png").write_bytes(b"x" * (2 * 1024 * 1024 + 10))
    client.settings = _settings(tmp_path, download_limit_mb=1)
    job = _fake_outputs(client, [{"filename": "big.png", "subfolder": "", "type": "output"}])
    with guard.memory_bound(16), pytest.raises(DownloadTooLarge) as info:
        await client.fetch_outputs(job, tmp_path / "out" / "job")
    assert "big.png" in info.value.message and "limit" in info.value.message
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


@pytest.mark.parametrize("service", ["comfyui", "wan2gp", "litellm"])
async def test_every_client_refuses_another_computer_with_online_access_off(tmp_path, service):
    client = make_client(Endpoint(service=service, url=FAR[service]), _settings(tmp_path))
    try:
        result = await client.probe()
    finally:
        await client.close()
    assert not result.reachable and result.error is not None
    assert result.error.code == "online_access" and "10.255.255.1" in result.error.message


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "auth"), (403, "rejected_input"), (404, "incompatible"), (429, "rate_limited"), (500, "server_error")],
)
async def test_litellm_status_codes_become_their_own_errors(tmp_path, hostile, scripts, secret, guard, status, code):
    body = b'{"error": {"message": "nope", "type": "x", "code": "' + str(status).encode() + b'"}}'
    server = hostile(scripts.answer(status, body, {"Content-Type": "application/json", "Retry-After": "1"}))
    client = make_client(Endpoint(service="litellm", url=server.url), _settings(tmp_path))
    try:
        with pytest.raises(Exception) as info:
            await client.complete([{"role": "user", "content": "hi"}], "m")
    finally:
        await client.close()
    err = info.value
    assert getattr(err, "code", None) == code, f"{status}: {err!r}"
    assert "GenBridge bug" not in str(err)
    guard.assert_no_secret(str(err))
