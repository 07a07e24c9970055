"""Fault tests: killed servers, dropped sockets, proxies, servers that never answer, traversal names."""

from __future__ import annotations

import asyncio

import pytest
from genbridge.runtime.errors import DownloadTooLarge, GenBridgeError, ServiceTimeout, Unreachable, UnsafePath
from genbridge.runtime.jobs import Job

pytestmark = pytest.mark.timeout(30)


async def test_server_killed_mid_job_fails_with_a_clear_error(client, server, helpers):
    server.node_delay = 0.3
    job = Job(task="image", inputs={"workflow": helpers.graph(color=61)})
    await client.submit(job)

    async def consume():
        async for _ in client.events(job):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await server.kill()
    await asyncio.sleep(0.3)
    await server.restart()  # restarted: history and queue are gone, the job is lost
    with pytest.raises(GenBridgeError) as info:
        await asyncio.wait_for(task, 10)
    assert "restarted" in info.value.message or "Lost contact" in info.value.message


async def test_server_that_stays_down_fails_after_the_silence_timeout(client, server, helpers):
    server.node_delay = 0.5
    job = Job(task="image", inputs={"workflow": helpers.graph(color=62)})
    await client.submit(job)
    await server.kill()
    with pytest.raises(Unreachable, match="Lost contact"):
        async for _ in client.events(job):
            pass


async def test_outputs_written_before_a_kill_stay_on_the_server(client, server, helpers, tmp_path):
    await helpers.run(client, Job(task="image", inputs={"workflow": helpers.graph(color=63)}), tmp_path / "d")
    await server.kill()
    await server.restart()
    assert (server.output_dir / "blender_test" / "basic_00001_.png").is_file()
    assert (tmp_path / "d" / "blender_test" / "basic_00001_.png").is_file()


async def test_socket_dropped_mid_job_completes_via_resync(client, server, helpers, tmp_path):
    server.node_delay = 0.15
    job = Job(task="image", inputs={"workflow": helpers.graph(color=64)})
    await client.submit(job)
    server.faults.drop_socket_after = 0  # drop on the next frame sent
    async for _ in client.events(job):
        server.faults.drop_socket_after = None
    paths = await client.fetch_outputs(job, tmp_path / "d")
    assert len(paths) == 2


async def test_html_502_from_a_reverse_proxy_is_unreachable(client, server, helpers):
    server.faults.html_502 = True
    result = await client.probe()
    assert not result.reachable and "502" in result.error.message and "proxy" in result.error.message
    with pytest.raises(Unreachable):
        await client.submit(Job(task="image", inputs={"workflow": helpers.graph()}))


async def test_500_is_a_server_error(client, server, helpers):
    await client.probe()
    server.faults.http_500_paths.add("/prompt")
    with pytest.raises(GenBridgeError, match="HTTP 500"):
        await client.submit(Job(task="image", inputs={"workflow": helpers.graph(color=65)}))


async def test_server_that_accepts_and_never_answers_times_out(client, server, helpers):
    server.faults.stall = True
    result = await asyncio.wait_for(client.probe(), 10)
    assert not result.reachable and result.error.code == "timeout"
    with pytest.raises((ServiceTimeout, Unreachable)):
        await asyncio.wait_for(client.submit(Job(task="image", inputs={"workflow": helpers.graph()})), 10)
    server.faults.stall = False


async def test_refused_connection_is_unreachable_in_probe(client, server):
    await server.kill()
    result = await client.probe()
    assert not result.reachable and result.error.code == "unreachable"


@pytest.mark.parametrize(("subfolder", "filename"), [("../..", "x.png"), ("", "../x.png"), ("/etc", "passwd")])
async def test_traversal_names_are_rejected_and_nothing_written(client, tmp_path, subfolder, filename):
    from genbridge.backends.comfyui.tracking import Track

    job = Job(task="image")
    track = Track.new(job.id, {})
    track.outputs = {"9": {"images": [{"filename": filename, "subfolder": subfolder, "type": "output"}]}}
    client._tracks[job.id] = track
    with pytest.raises(UnsafePath):
        await client.fetch_outputs(job, tmp_path / "dest")
    assert not any((tmp_path / "dest").rglob("*.png"))


async def test_view_refuses_traversal(server):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        r1 = await http.get(f"{server.url}/view", params={"filename": "../x.png"})
        r2 = await http.get(f"{server.url}/view", params={"filename": "x.png", "subfolder": "../../etc"})
        assert (r1.status, r2.status) == (400, 403)


async def test_download_cap_and_range_resume(client, server, settings, tmp_path):
    from genbridge.backends.comfyui.download import download

    (server.output_dir / "big.bin").write_bytes(b"x" * 300_000)
    target = tmp_path / "d" / "big.bin"
    session = client.http.session()
    params = {"filename": "big.bin", "subfolder": "", "type": "output"}
    with pytest.raises(DownloadTooLarge):
        await download(client.http, params, target, limit_bytes=100_000, deadline_s=10)
    assert not target.exists()
    async with session.get(f"{server.url}/view", params=params, headers={"Range": "bytes=100-"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 299_900
    await download(client.http, params, target, limit_bytes=10**6, deadline_s=10)
    assert target.stat().st_size == 300_000
