"""Issue 14 defects 2-5, each with the test that would have caught it on the real server:
Ctrl-C leaves the prompt running; SaveImageWebsocket images are lost; a cache hit fails the job; `check` latency
includes session setup and other probes; an empty `GENBRIDGE_WAN2GP_URLS=` does not turn WanGP off."""

from __future__ import annotations

import json
import struct

import pytest
from genbridge.runtime.jobs import Job

pytestmark = pytest.mark.timeout(40)


def _settings(tmp_path, url):
    from genbridge.runtime.settings import Endpoint, Settings, Timeouts

    return Settings(
        comfyui=[Endpoint(service="comfyui", url=url)],
        wan2gp=[],
        litellm=[],
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        timeouts=Timeouts(connect=1.0, request=2.0, silence=4.0, download=10.0),
    )


# ---- 2: Ctrl-C cancels on the server before the runtime stops -----------------------------------------------------


def test_ctrl_c_on_generate_cancels_the_prompt_on_the_server_then_exits_130(tmp_path, monkeypatch, helpers):
    from genbridge.cli import _headless, main
    from genbridge.standins.comfyui import ComfyUIStandIn

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(helpers.graph(color=201, batch=1)))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))

    def press_ctrl_c_once_running(event):
        if event.kind == "state" and event.state == "running":
            raise KeyboardInterrupt

    monkeypatch.setattr(_headless, "print_progress", press_ctrl_c_once_running)
    with ComfyUIStandIn(root=tmp_path / "comfy", node_delay=1.0).running_in_thread() as server:
        argv = ["generate", "--service", "comfyui", "--workflow", str(flow), "--url", server.url]
        assert main(argv) == 130
        [entry] = server.history.values()  # the cancel reached the server before GenBridge stopped
        assert server.running is None and not server.queue
        assert entry["status"]["messages"][-1][0] == "execution_interrupted"
        assert not list(server.output_dir.rglob("*.png"))


# ---- 3: SaveImageWebsocket images are outputs ---------------------------------------------------------------------


@pytest.mark.parametrize("frame_type", [1, 4])
async def test_images_sent_over_the_socket_by_savewebsocket_are_outputs(client, settings, tmp_path, frame_type):
    from genbridge.backends.comfyui.tracking import Track

    job = Job(task="image")
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
    }
    client._tracks[job.id] = Track.new(job.id, graph)
    sock = client._ws()
    sock.subscribe(job.id)
    sock._dispatch(json.dumps({"type": "executing", "data": {"node": "2", "prompt_id": job.id}}))
    png = b"\x89PNG full image"
    if frame_type == 1:
        sock._dispatch(struct.pack(">II", 1, 2) + png)
    else:
        meta = json.dumps({"node_id": "2", "prompt_id": job.id, "image_type": "image/png"}).encode()
        sock._dispatch(struct.pack(">II", 4, len(meta)) + meta + png)
    sock._dispatch(json.dumps({"type": "executed", "data": {"node": "2", "output": None, "prompt_id": job.id}}))
    sock._dispatch(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": job.id}}))
    [e async for e in client.events(job)]
    paths = await client.fetch_outputs(job, tmp_path / "dest")
    assert [p.read_bytes() for p in paths] == [png]
    assert paths[0].parent == tmp_path / "dest" and paths[0].suffix == ".png"


# ---- 4: a full cache hit is done (marked cached); only a cache hit without files is a problem ---------------------


def test_a_full_cache_hit_ends_done_with_the_earlier_files_marked_cached(tmp_path, helpers):
    from genbridge.cli._headless import run_jobs
    from genbridge.standins.comfyui import ComfyUIStandIn

    spec = {"task": "image", "service": "comfyui", "inputs": {"workflow": helpers.graph(color=202, batch=1)}}
    notes: list[str] = []
    with ComfyUIStandIn(root=tmp_path / "comfy").running_in_thread() as server:
        settings = _settings(tmp_path, server.url)
        [first] = run_jobs([spec], settings, None)
        [again] = run_jobs([spec], settings, lambda e: notes.append(e.text or "") if e.kind == "log" else None)
    assert first["state"] == again["state"] == "done"
    assert not first["cached"] and again["cached"] and again["phase"] == "Done (cached results)"
    assert [open(p, "rb").read() for p in again["outputs"]] == [open(p, "rb").read() for p in first["outputs"]]
    assert any("earlier run" in n and "new seed" in n for n in notes)


def test_a_cache_hit_that_leaves_no_files_fails_with_how_to_force_a_fresh_run(tmp_path):
    from genbridge.cli._headless import run_jobs
    from genbridge.standins.comfyui import ComfyUIStandIn

    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 203}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    spec = {"task": "image", "service": "comfyui", "inputs": {"workflow": graph}}
    with ComfyUIStandIn(root=tmp_path / "comfy").running_in_thread() as server:
        settings = _settings(tmp_path, server.url)
        [first] = run_jobs([spec], settings, None)
        [again] = run_jobs([spec], settings, None)
    assert first["state"] == "done"
    assert again["state"] == "failed" and "cached" in again["error"]["message"]
    assert "new seed" in again["error"]["hint"]


async def test_a_cached_run_whose_earlier_file_is_gone_says_how_to_force_a_fresh_run(client, server, helpers, tmp_path):
    await helpers.run(client, Job(task="image", inputs={"workflow": helpers.graph(color=204, batch=1)}), tmp_path / "a")
    for f in server.output_dir.rglob("*.png"):
        f.unlink()
    job = Job(task="image", inputs={"workflow": helpers.graph(color=204, batch=1)})
    await client.submit(job)
    [e async for e in client.events(job)]
    with pytest.raises(Exception) as info:
        await client.fetch_outputs(job, tmp_path / "b")
    assert "no longer has" in str(info.value.message) and "new seed" in info.value.hint


# ---- 5: check measures the request alone; an empty URL list turns a service off ----------------------------------


async def test_check_times_each_endpoint_alone_after_all_probes(monkeypatch, tmp_path, server):
    from genbridge.backends.comfyui import ComfyUIClient
    from genbridge.cli.check import probe_endpoints
    from genbridge.runtime.settings import Endpoint

    in_flight = {"probes": 0, "seen": []}
    real_probe = ComfyUIClient.probe

    async def counting_probe(self):
        in_flight["probes"] += 1
        try:
            return await real_probe(self)
        finally:
            in_flight["probes"] -= 1

    async def measured(self, tries=3):
        in_flight["seen"].append(in_flight["probes"])
        return 4.0

    monkeypatch.setattr(ComfyUIClient, "probe", counting_probe)
    monkeypatch.setattr(ComfyUIClient, "measure_latency", measured)
    settings = _settings(tmp_path, server.url)
    settings = settings.model_copy(
        update={"comfyui": [Endpoint(service="comfyui", url=server.url), Endpoint(service="comfyui", url=server.url)]}
    )
    results = await probe_endpoints(settings)
    assert [r.latency_ms for r in results] == [4.0, 4.0]
    # Once inside each probe, and once per endpoint after every probe finished (nothing else on the loop).
    assert in_flight["seen"][-2:] == [0, 0]


async def test_latency_is_the_best_of_a_few_bare_requests(client, server):
    await client.probe()
    ticks = iter([0.0, 0.020, 1.0, 1.004, 2.0, 2.009])
    client.clock = lambda: next(ticks)  # injected: no wall-clock budget in the test
    assert await client.measure_latency() == pytest.approx(4.0)


def test_an_empty_url_list_in_the_environment_turns_the_service_off():
    from genbridge.runtime.settings import Settings

    settings = Settings.load(env={"GENBRIDGE_WAN2GP_URLS": "", "GENBRIDGE_COMFYUI_URLS": "http://127.0.0.1:9"})
    assert settings.wan2gp == [] and [e.service for e in settings.all_endpoints()].count("wan2gp") == 0
    assert Settings.load(env={"GENBRIDGE_LITELLM_URL": ""}).litellm == []
    assert len(Settings.load(env={}).wan2gp) == 1  # unset keeps the default
