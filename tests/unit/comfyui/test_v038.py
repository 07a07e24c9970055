"""ComfyUI 0.38 on the client (comfyui-0.38.md R1-R5), each against both stand-in versions where both apply:
the jobs API when present, canonical prompt ids and 400s by `error.type`, outputs by shape, an authenticated and
negotiated websocket, V3 dynamic inputs and a SaveVideo valid on both versions."""

from __future__ import annotations

import json

import pytest
from genbridge.backends.comfyui import ComfyUIClient
from genbridge.runtime.errors import AuthError, GenBridgeError, RejectedInput, ServerError
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint

pytestmark = pytest.mark.timeout(30)


# ---- R1: the jobs API when present, the old path otherwise -------------------------------------------------------


async def test_the_jobs_api_is_used_for_status_and_outputs_only_where_it_exists(client, server, helpers, tmp_path):
    probe = await client.probe()
    assert probe.capabilities["jobs_api"] is server.v038 is client.jobs_api
    job = Job(task="image", inputs={"workflow": helpers.graph(color=301, batch=1)})
    await client.submit(job)
    client._ws().subscribe(job.id).put_nowait(("resync", None))  # as after a socket break: ask the server
    [e async for e in client.events(job)]
    assert len(await client.fetch_outputs(job, tmp_path / "d")) == 1
    asked_jobs_api = ("GET", f"/api/jobs/{job.id}") in server.requests
    asked_history = ("GET", f"/history/{job.id}") in server.requests
    assert (asked_jobs_api, asked_history) == ((True, False) if server.v038 else (False, True))


async def test_a_job_followed_on_the_socket_without_a_break_needs_no_status_request(client, server, helpers, tmp_path):
    job = Job(task="image", inputs={"workflow": helpers.graph(color=306, batch=2)})
    _, paths = await helpers.run(client, job, tmp_path / "d")
    assert len(paths) == 2
    asked = [path for method, path in server.requests if job.id in path and "/view" not in path]
    assert asked == []  # the `executed` messages were complete: one request (POST /prompt) plus the downloads


async def test_a_job_the_server_does_not_know_is_lost_with_a_restart_message(client, server):
    job = Job(task="image", inputs={})
    with pytest.raises(ServerError, match="restarted") as info:
        await client.reattach(job)
    assert info.value.remote_id == job.id and info.value.endpoint == client.base
    if server.v038:  # one call answers "unknown": no /history, no /queue, no sleep-and-retry
        assert ("GET", f"/history/{job.id}") not in server.requests


async def test_reattach_follows_a_running_job_to_its_outputs(client, server, settings, helpers, tmp_path):
    server.node_delay = 0.2
    job = Job(task="image", inputs={"workflow": helpers.graph(color=302, batch=1)})
    await client.submit(job)
    other = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)  # a restarted Blender
    try:
        await other.reattach(job)
        [e async for e in other.events(job)]
        paths = await other.fetch_outputs(job, tmp_path / "d")
    finally:
        await other.close()
    assert len(paths) == 1


# ---- R2: canonical UUID prompt ids; 400s classified by error.type ------------------------------------------------


@pytest.mark.parametrize("job_id", ["storyboard-shot-1", "6F9619FF-8B86-D011-B42D-00C04FC964FF"])
async def test_a_job_id_that_is_not_a_canonical_uuid_is_sent_as_one(client, server, helpers, tmp_path, job_id):
    from genbridge.backends.comfyui.models import prompt_id_for

    job = Job(id=job_id, task="image", inputs={"workflow": helpers.graph(color=303, batch=1)})
    remote = await client.submit(job)
    [e async for e in client.events(job)]
    assert await client.fetch_outputs(job, tmp_path / "d")
    assert remote == prompt_id_for(job_id) != job_id and remote in server.history
    assert prompt_id_for(job_id) == prompt_id_for(job_id)  # stable: re-attach finds it again


def test_400_bodies_are_classified_by_their_error_type():
    from genbridge.backends.comfyui import errors

    def body(kind: str, **extra: object) -> dict:
        return {"error": {"type": kind, "message": "m", "details": "d", "extra_info": extra}, "node_errors": {}}

    graph = {"5": {"class_type": "FancyNode", "_meta": {"title": "Fancy"}}}
    missing = errors.rejection(
        body("missing_node_type", node_id="5", class_type="FancyNode", node_title="Fancy"),
        graph,
        endpoint="http://127.0.0.1:8188",
        prompt_id="p",
    )
    assert "'FancyNode'" in missing.message and "Fancy" in missing.message and "Install" in missing.hint
    bad_id = errors.rejection(body("invalid_prompt_id"), {}, endpoint="http://127.0.0.1:8188", prompt_id="p")
    assert type(bad_id) is GenBridgeError and "GenBridge bug" in bad_id.hint
    loop = errors.rejection(body("dependency_cycle"), {}, endpoint="http://127.0.0.1:8188", prompt_id="p")
    assert isinstance(loop, RejectedInput) and "loop" in loop.message
    assert all(e.endpoint == "http://127.0.0.1:8188" and e.remote_id == "p" for e in (missing, bad_id, loop))


# ---- R3: outputs found by shape --------------------------------------------------------------------------------


def test_output_files_are_found_by_shape_and_inputs_are_skipped():
    from genbridge.backends.comfyui.models import output_files, saved_output_nodes

    outputs = {
        "1": {"images": [{"filename": "in.mp4", "subfolder": "", "type": "input"}], "animated": [True]},
        "2": {"3d": [{"filename": "m.glb", "subfolder": "mesh", "type": "output", "id": "x"}], "result": []},
        "3": {"result": ["mesh/p.glb [output]", None, {"camera": 1}], "text": ["not a file"]},
        "4": {"files": [{"filename": "notes.txt", "subfolder": "", "type": "output"}]},
        "5": {"audio": [{"filename": "a.flac", "subfolder": "", "type": "temp"}]},
    }
    found = [(f.subfolder, f.filename, f.type) for f in output_files(outputs)]
    assert found == [
        ("mesh", "m.glb", "output"),
        ("mesh", "p.glb", "output"),
        ("", "notes.txt", "output"),
        ("", "a.flac", "temp"),
    ]
    assert saved_output_nodes(outputs) == {"2", "3", "4"}


async def test_a_loaded_video_is_not_a_result_and_savevideo_runs_on_both_versions(client, server, helpers, tmp_path):
    (server.dirs["input"] / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 placeholder")
    graph = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
        "2": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["1", 0], "filename_prefix": "video/out", "format": "mp4", "codec": "h264"},
        },
    }
    job = Job(task="video", inputs={"workflow": graph})
    _, paths = await helpers.run(client, job, tmp_path / "d")
    assert [p.relative_to(tmp_path / "d").as_posix() for p in paths] == ["video/out_00001_.mp4"]
    sent = server.history[job.id]["prompt"][2]["2"]["inputs"]
    assert ("format.codec" in sent) is server.v038  # the dynamic schema's own name, only where it exists


async def test_a_3d_preview_names_a_model_file_that_is_downloaded(client, server, helpers, tmp_path):
    (server.output_dir / "mesh").mkdir()
    (server.output_dir / "mesh" / "thing.glb").write_bytes(b"glTF\x02\x00\x00\x00model")
    job = Job(
        task="image",
        inputs={"workflow": {"1": {"class_type": "Preview3D", "inputs": {"model_file": "mesh/thing.glb"}}}},
    )
    _, paths = await helpers.run(client, job, tmp_path / "d")
    assert [p.read_bytes() for p in paths] == [b"glTF\x02\x00\x00\x00model"]


# ---- R4: the websocket authenticates like HTTP, negotiates feature flags, shows activity -------------------------


@pytest.fixture(params=["0.3.64", "0.38"])
async def locked_server(request, tmp_path):
    from genbridge.standins.comfyui import ComfyUIStandIn

    async with ComfyUIStandIn(root=tmp_path / "locked", version=request.param, token="s3cret-token") as s:
        yield s


async def test_a_bearer_token_opens_http_and_the_websocket(locked_server, settings, helpers, tmp_path):
    from pydantic import SecretStr

    endpoint = Endpoint(service="comfyui", url=locked_server.url, key=SecretStr("s3cret-token"))
    client = ComfyUIClient(endpoint, settings)
    try:
        job = Job(task="image", inputs={"workflow": helpers.graph(color=304, batch=1)})
        _, paths = await helpers.run(client, job, tmp_path / "d")
    finally:
        await client.close()
    assert len(paths) == 1


async def test_a_refused_websocket_handshake_stops_with_an_auth_error(locked_server):
    from genbridge.backends.comfyui.socket import ComfySocket

    ws_url = "ws" + locked_server.url[4:] + "/ws?clientId=abc"
    sock = ComfySocket(ws_url, connect_timeout=5.0, headers={"Authorization": "Bearer wrong"})
    queue = sock.subscribe("p")
    try:
        with pytest.raises(AuthError, match="websocket") as info:
            await sock.ensure_started()
        assert sock._task is not None and sock._task.done()  # no endless reconnects
        assert "wrong" not in info.value.message
        assert (await queue.get())[0] == "fatal"  # jobs waiting on the socket hear it too
    finally:
        await sock.close()


async def test_previews_carry_their_prompt_once_flags_are_negotiated(client, server, helpers, tmp_path):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 2, "color": 305}},
        "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
    }
    job = Job(task="image", inputs={"workflow": graph})
    _, paths = await helpers.run(client, job, tmp_path / "d")
    assert client._ws().server_flags.get("supports_preview_metadata") is True
    assert len(paths) == 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in paths)  # defect 3, end to end


def test_progress_state_activity_is_shown_in_the_phase(tmp_path):
    from genbridge.backends.comfyui.tracking import Track, apply_message

    track = Track.new("p", {"4": {"class_type": "CheckpointLoaderSimple", "_meta": {"title": "Checkpoint"}}})
    nodes = {"4": {"value": 0, "max": 1, "state": "running", "activity": "loading"}}
    event = apply_message(track, "progress_state", {"nodes": nodes}, endpoint="e", data_path=tmp_path)
    assert event is not None and event.phase == "Running Checkpoint (loading)"


# ---- R5: V3 dynamic inputs --------------------------------------------------------------------------------------


def test_dynamic_savevideo_inputs_parse_with_dotted_sub_inputs():
    from genbridge.standins.comfyui.schema import VERSIONS, build_object_info
    from genbridge.workflows.schema import parse_node

    raw = build_object_info(VERSIONS["0.38"], {})["SaveVideo"]
    schema = parse_node("SaveVideo", raw)
    assert schema.inputs["format"].type == "COMBO" and "mp4" in (schema.inputs["format"].options or ())
    assert "h264" in (schema.inputs["format.codec"].options or ())
    assert not schema.inputs["format.codec"].required and "format.codec.crf" in schema.inputs
    assert json.dumps(raw)  # still plain data
