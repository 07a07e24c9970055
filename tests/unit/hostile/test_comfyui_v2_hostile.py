"""A hostile Comfy API v2 server: escaping output names, huge replies and stream events, redirects that leave the
configured origin, a key echoed back, a download cut off midway. Each test checks what the user sees, that nothing
is written outside the output folder and that no key leaks."""

from __future__ import annotations

import json
import uuid

import pytest
from aiohttp import web
from genbridge.backends.comfyui_v2 import ComfyAPIv2Client
from genbridge.runtime.errors import AuthError, OnlineAccessRefused, RejectedInput, ReplyTooLarge, UnsafePath
from genbridge.runtime.events import BackendLog, BackendProgress
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings, Timeouts

from .conftest import SECRET

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 5000
GRAPH = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}


class FakeV2:
    """A scriptable /api/v2 server on 127.0.0.1 (the test's loop)."""

    def __init__(self) -> None:
        self.job_id = str(uuid.uuid4())
        self.outputs = [{"id": "a1", "name": "out.png"}]
        self.job_body: bytes | None = None  # raw override for GET /jobs/{id}
        self.events: bytes = b'event: status\ndata: {"status":"succeeded"}\n\n'
        self.cut_first_download = False
        self.downloads: list[str | None] = []
        self.auth_seen: list[str | None] = []
        self.redirect_health: str | None = None
        self.echo_key = False
        self.echo_body = False
        self.url = ""

    async def start(self) -> FakeV2:
        app = web.Application()
        app.router.add_get("/api/v2/health", self.health)
        app.router.add_route("HEAD", "/api/v2/assets/by-hash/{h}", self.unknown_hash)
        app.router.add_post("/api/v2/jobs", self.submit)
        app.router.add_get("/api/v2/jobs/{id}", self.job)
        app.router.add_get("/api/v2/jobs/{id}/events", self.stream)
        app.router.add_get("/api/v2/assets/{id}/content", self.content)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def unknown_hash(self, request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def health(self, request: web.Request) -> web.StreamResponse:
        self.auth_seen.append(request.headers.get("Authorization"))
        if self.redirect_health:
            raise web.HTTPTemporaryRedirect(self.redirect_health)
        return web.json_response({"status": "healthy"})

    async def submit(self, request: web.Request) -> web.Response:
        if self.echo_body:
            text = (await request.read()).decode()
            return web.json_response({"error": {"code": "invalid_workflow", "message": text[:400]}}, status=422)
        if self.echo_key:
            said = request.headers.get("Authorization", "")
            return web.json_response({"error": {"code": "unauthorized", "message": f"bad token {said}"}}, status=401)
        return web.json_response({"id": self.job_id, "status": "queued"}, status=201)

    async def job(self, request: web.Request) -> web.Response:
        if self.job_body is not None:
            return web.Response(body=self.job_body, content_type="application/json")
        return web.json_response({"id": self.job_id, "status": "succeeded", "outputs": self.outputs})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(self.events)
        return resp

    async def content(self, request: web.Request) -> web.StreamResponse:
        self.downloads.append(request.headers.get("Range"))
        start = int(request.headers["Range"].split("=")[1].rstrip("-")) if "Range" in request.headers else 0
        if self.cut_first_download and len(self.downloads) == 1:
            resp = web.StreamResponse(headers={"Content-Length": str(len(PNG))})
            await resp.prepare(request)
            await resp.write(PNG[:2000])
            request.transport.close()  # type: ignore[union-attr]
            return resp
        status = 206 if start else 200
        headers = {"Content-Range": f"bytes {start}-{len(PNG) - 1}/{len(PNG)}"} if start else {}
        return web.Response(body=PNG[start:], status=status, headers=headers, content_type="image/png")

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def fake():
    server = await FakeV2().start()
    yield server
    await server.stop()


def make_client(fake, tmp_path, **settings) -> ComfyAPIv2Client:
    s = Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        timeouts=Timeouts(connect=1, request=3, silence=3, download=5),
        **settings,
    )
    c = ComfyAPIv2Client(Endpoint(service="comfyui", url=fake.url, kind="api_v2", key=SECRET), s)
    c.poll_s, c.stream_check_s = 0.02, 0.2
    return c


async def run(c: ComfyAPIv2Client, dest):
    job = Job(task="image", inputs={"workflow": GRAPH})
    job.remote_ids[c.endpoint.url] = await c.submit(job)
    events = [e async for e in c.events(job)]
    return job, events, await c.fetch_outputs(job, dest)


async def test_an_output_name_that_escapes_the_folder_writes_nothing(fake, tmp_path, guard):
    fake.outputs = [{"id": "a1", "name": "fine.png"}, {"id": "a2", "name": "../../escaped.png"}]
    c = make_client(fake, tmp_path)
    try:
        with pytest.raises(UnsafePath) as info:
            await run(c, tmp_path / "out")
    finally:
        await c.close()
    assert "escaped.png" in info.value.message
    assert guard.written_outside(tmp_path / "out", tmp_path / "data") == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


async def test_a_huge_job_record_stops_at_the_reply_cap(fake, tmp_path, guard):
    fake.job_body = b'{"id": "x", "status": "succeeded", "pad": "' + b"a" * (3 * 2**20) + b'"}'
    fake.events = b""  # no stream: the state is read
    c = make_client(fake, tmp_path, reply_limit_mb=1)
    try:
        with guard.memory_bound(24), pytest.raises(ReplyTooLarge) as info:
            await run(c, tmp_path / "out")
    finally:
        await c.close()
    assert "1 MB limit" in info.value.message and info.value.endpoint.startswith("http://127.0.0.1")


async def test_a_stream_event_larger_than_the_cap_falls_back_to_polling(fake, tmp_path):
    fake.events = b"event: preview\ndata: " + b"A" * (2 * 2**20)
    c = make_client(fake, tmp_path, reply_limit_mb=1)
    try:
        _, events, paths = await run(c, tmp_path / "out")
    finally:
        await c.close()
    assert any(isinstance(e, BackendLog) and "polling instead" in e.message for e in events)
    assert isinstance(events[-1], BackendProgress) and [p.name for p in paths] == ["out.png"]


async def test_a_redirect_to_another_computer_is_refused_without_online_access(fake, tmp_path):
    fake.redirect_health = "http://192.0.2.10/api/v2/health"
    c = make_client(fake, tmp_path)
    try:
        probe = await c.probe()
    finally:
        await c.close()
    assert not probe.reachable and probe.error is not None and probe.error.code == OnlineAccessRefused.code
    assert "192.0.2.10" in probe.error.message


async def test_the_key_is_not_sent_to_a_redirect_on_another_origin(fake, tmp_path):
    other = await FakeV2().start()
    try:
        fake.redirect_health = f"{other.url}/api/v2/health"
        c = make_client(fake, tmp_path)
        try:
            await c.http.request("GET", "/health")
        finally:
            await c.close()
    finally:
        await other.stop()
    assert fake.auth_seen == [f"Bearer {SECRET}"] and other.auth_seen == [None]


async def test_a_server_echoing_the_key_has_it_masked(fake, tmp_path, guard, secret):
    fake.echo_key = True
    c = make_client(fake, tmp_path)
    try:
        with pytest.raises(AuthError) as info:
            await run(c, tmp_path / "out")
    finally:
        await c.close()
    assert "refused the request" in info.value.message and "***" in info.value.message
    guard.assert_no_secret(str(info.value), json.dumps(info.value.to_dict()), files=tmp_path)


async def test_a_download_cut_off_midway_resumes_with_range(fake, tmp_path, guard):
    fake.cut_first_download = True
    c = make_client(fake, tmp_path)
    try:
        _, _, paths = await run(c, tmp_path / "out")
    finally:
        await c.close()
    assert paths[0].read_bytes() == PNG
    assert fake.downloads[0] is None and fake.downloads[1] == "bytes=2000-"
    assert guard.written_outside(tmp_path / "out", tmp_path / "data") == []


async def test_a_partner_key_echoed_back_in_an_error_is_masked(fake, tmp_path, guard, monkeypatch):
    partner = "comfy-org-hostile-3b7e-DO-NOT-LEAK"
    monkeypatch.setenv("GENBRIDGE_COMFY_ORG_KEY", partner)
    fake.echo_body = True  # a server that quotes the request body (extra_data included) in its error
    c = make_client(fake, tmp_path)
    job = Job(task="image", inputs={"workflow": GRAPH})
    try:
        with pytest.raises(RejectedInput) as info:
            await c.submit(job)
    finally:
        await c.close()
    assert "api_key_comfy_org" in info.value.message and "***" in info.value.message
    guard.assert_no_secret(str(info.value), job.model_dump_json(), files=tmp_path, secret=partner)
