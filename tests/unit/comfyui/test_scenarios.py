"""One test per captured scenario, replayed against the client through the stand-in."""

from __future__ import annotations

import asyncio
import struct

import pytest
from genbridge.runtime.errors import Cancelled, IncompatibleServer, RejectedInput, ServerError
from genbridge.runtime.events import BackendLog, BackendProgress
from genbridge.runtime.jobs import Job
from genbridge.standins.fixtures import load_fixture
from genbridge.standins.placeholder import placeholder_png

pytestmark = pytest.mark.timeout(30)


async def test_probe_reports_version_device_vram_and_nodes(client, server):
    server.device, server.vram_total_gb, server.vram_free_gb = "cpu", 16.0, 12.0
    result = await client.probe()
    assert result.reachable and result.version == server.version
    assert result.device == "cpu" and result.capabilities["cpu_only"]
    assert result.vram_total_gb == pytest.approx(16.0) and result.vram_free_gb == pytest.approx(12.0)
    assert result.capabilities["node_classes"] >= 15
    assert "checkpoints" in result.models


async def test_basic_success_downloads_every_image(client, helpers, tmp_path):
    job = Job(task="image", inputs={"workflow": helpers.graph()})
    events, paths = await helpers.run(client, job, tmp_path / "dest")
    assert [p.name for p in paths] == ["basic_00001_.png", "basic_00002_.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    fractions = [e.fraction for e in events if isinstance(e, BackendProgress)]
    assert fractions == sorted(fractions) and max(fractions) < 1.0


async def test_identical_resubmit_is_a_cache_hit_done_with_the_earlier_files(client, helpers, tmp_path):
    _, first = await helpers.run(client, Job(task="image", inputs={"workflow": helpers.graph(color=5)}), tmp_path / "a")
    job = Job(task="image", inputs={"workflow": helpers.graph(color=5)})
    await client.submit(job)
    events = [e async for e in client.events(job)]
    note = next(e.message for e in events if isinstance(e, BackendLog) and "cached" in e.message)
    assert "seed" in note and "Free memory" in note  # how to force a fresh run
    assert job.cached
    paths = await client.fetch_outputs(job, tmp_path / "b")
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in first]


async def test_upload_uses_the_name_the_server_returns(client, server, tmp_path, helpers):
    src = tmp_path / "src.png"
    first = placeholder_png("first", 8, 8)  # ComfyUI opens it with PIL: it must be an image
    src.write_bytes(first)
    (server.dirs["input"] / "genbridge").mkdir(parents=True)
    (server.dirs["input"] / "genbridge" / "src.png").write_bytes(b"other bytes")
    graph = {
        "10": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}, "_meta": {"title": "Source"}},
        "11": {"class_type": "ImageInvert", "inputs": {"image": ["10", 0]}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "inv"}},
    }
    job = Job(task="image", inputs={"workflow": graph, "images": {"Source": str(src)}})
    _, paths = await helpers.run(client, job, tmp_path / "dest")
    assert paths and (server.dirs["input"] / "genbridge" / "src (1).png").read_bytes() == first
    assert server.history[job.id]["prompt"][2]["10"]["inputs"]["image"] == "genbridge/src (1).png"


async def test_preview_and_animated_outputs_are_all_downloaded(client, helpers, tmp_path):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 1}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "3": {
            "class_type": "SaveAnimatedPNG",
            "inputs": {"images": ["1", 0], "filename_prefix": "anim", "fps": 6.0, "compress_level": 4},
        },
        "4": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["5", 0], "filename_prefix": "video/clip", "format": "auto", "codec": "auto"},
        },
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8.0}},
    }
    _, paths = await helpers.run(client, Job(task="video", inputs={"workflow": graph}), tmp_path / "d")
    names = {p.relative_to(tmp_path / "d").as_posix() for p in paths}
    assert any(n.startswith("temp/ComfyUI_temp_") for n in names)
    assert "anim_00001_.png" in names and "video/clip_00001_.mp4" in names


@pytest.mark.parametrize("label", ["missing required input (EmptyImage.width)", "value below min (width=0)"])
async def test_validation_errors_name_the_node_and_input(client, label):
    capture = load_fixture("comfyui", "06_validation_errors.json")
    request = next(r for r in capture["requests"] if r.get("label") == label)
    job = Job(task="image", inputs={"workflow": request["json"]["prompt"]})
    with pytest.raises(RejectedInput) as info:
        await client.submit(job)
    text = info.value.message
    assert "node 1" in text and "EmptyImage" in text and "width" in text
    assert info.value.endpoint == client.base and info.value.remote_id == job.id


async def test_unknown_node_class_names_the_class_and_how_to_install_it(client):
    capture = load_fixture("comfyui", "06_validation_errors.json")
    request = next(r for r in capture["requests"] if r.get("label") == "unknown class_type")
    job = Job(task="image", inputs={"workflow": request["json"]["prompt"]})
    with pytest.raises(IncompatibleServer) as info:
        await client.submit(job)
    assert "'NoSuchNode'" in info.value.message and "node 2" in info.value.message
    assert "Install Missing Custom Nodes" in info.value.hint
    assert info.value.endpoint == client.base and info.value.remote_id == job.id


async def test_partial_accept_is_surfaced(client, helpers, tmp_path):
    graph = helpers.graph(color=11, batch=1)
    graph["3"] = {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}}
    graph["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "bad"}}
    events, paths = await helpers.run(client, Job(task="image", inputs={"workflow": graph}), tmp_path / "d")
    logs = [e.message for e in events if isinstance(e, BackendLog)]
    assert logs and "node 3" in logs[0] and "width" in logs[0]
    assert [p.name for p in paths] == ["basic_00001_.png"]


async def test_runtime_error_names_the_node(client, helpers):
    job = Job(task="image", inputs={"workflow": helpers.graph(prefix="../../escape")})
    await client.submit(job)
    with pytest.raises(ServerError, match="node 2"):
        async for _ in client.events(job):
            pass


async def test_interrupt_cancels_only_our_running_job(client, server, helpers):
    server.node_delay = 0.3
    job = Job(task="image", inputs={"workflow": helpers.graph(color=21)})
    await client.submit(job)
    seen = []

    async def consume():
        async for ev in client.events(job):
            seen.append(ev)

    task = asyncio.create_task(consume())
    for _ in range(50):
        if server.running is not None:
            break
        await asyncio.sleep(0.02)
    await client.cancel(job)
    with pytest.raises(Cancelled):
        await asyncio.wait_for(task, 5)


async def test_queued_job_is_deleted_from_the_queue_on_cancel(client, server, helpers):
    server.node_delay = 0.3
    first = Job(task="image", inputs={"workflow": helpers.graph(color=31)})
    second = Job(task="image", inputs={"workflow": helpers.graph(color=32)})
    await client.submit(first)
    await client.submit(second)
    await client.cancel(second)
    assert second.id not in {item[1] for item in server.queue}
    if server.v038:  # the jobs API cancels atomically (a job that just started is interrupted)
        assert ("POST", f"/api/jobs/{second.id}/cancel") in server.requests
    else:
        assert ("POST", "/queue") in server.requests


async def test_reconnect_mid_job_completes_through_resync(client, server, helpers, tmp_path):
    server.node_delay = 0.2
    job = Job(task="image", inputs={"workflow": helpers.graph(color=41)})
    server.faults.drop_socket_after = 4  # the socket dies during the run; nothing is replayed
    await client.submit(job)
    events = []
    async for ev in client.events(job):
        events.append(ev)
        server.faults.drop_socket_after = None
    paths = await client.fetch_outputs(job, tmp_path / "d")
    assert len(paths) == 2 and client._ws().reconnects >= 1


async def test_deaf_duplicate_socket_is_healed_by_the_watchdog(client, server, helpers, tmp_path):
    await client.probe()
    await client._ws().ensure_started()
    import aiohttp

    async with aiohttp.ClientSession() as http:
        # An older socket with our client id closes after ours opened: the server forgets ours (its bug).
        other = await http.ws_connect(f"{server.url}/ws?clientId={client.client_id}")
        await other.close()
        job = Job(task="image", inputs={"workflow": helpers.graph(color=51)})
        _, paths = await helpers.run(client, job, tmp_path / "d")
    assert len(paths) == 2


async def test_old_server_is_incompatible(client, server):
    server.version = "0.3.40"
    with pytest.raises(IncompatibleServer, match=r"0\.3\.45"):
        await client.submit(Job(task="image", inputs={"workflow": {}}))


async def test_binary_preview_frame_becomes_a_preview_file(client, settings):
    from genbridge.backends.comfyui.tracking import Track, apply_message

    sock = client._ws()
    queue = sock.subscribe("p1")
    sock._dispatch('{"type":"executing","data":{"node":"3","prompt_id":"p1"}}')
    sock._dispatch(struct.pack(">II", 1, 2) + b"\x89PNG preview")
    await queue.get()
    kind, data = await queue.get()
    track = Track.new("p1", {"3": {"class_type": "KSampler", "inputs": {}}})
    event = apply_message(track, kind, data, endpoint=client.base, data_path=settings.data_path)
    assert event is not None and open(event.path, "rb").read() == b"\x89PNG preview"
    assert track.ws_files == []  # a sampler preview is not an output


async def test_a_queued_prompt_is_withdrawn_and_a_running_one_is_kept(client, server, helpers):
    # The router moves a prompt the server has not started to a faster server; a started one must stay.
    server.node_delay = 0.3
    first = Job(task="image", inputs={"workflow": helpers.graph(color=51)})
    second = Job(task="image", inputs={"workflow": helpers.graph(color=52)})
    await client.submit(first)
    await client.submit(second)
    for _ in range(50):
        if server.running is not None:
            break
        await asyncio.sleep(0.02)
    assert await client.withdraw(second) is True
    assert second.id not in {item[1] for item in server.queue}
    assert await client.withdraw(first) is False
    events = [ev async for ev in client.events(first)]
    assert events  # the running prompt went on and finished
