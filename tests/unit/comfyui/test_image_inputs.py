"""Issue 14 defect 1: every way of giving a local image (API `images`/`image`, raw workflows, user templates, the
command line) uploads the file and sends the name the server returned, never the local path or its base name."""

from __future__ import annotations

import json

import pytest
from genbridge.runtime.errors import RejectedInput
from genbridge.runtime.jobs import Job
from genbridge.standins.placeholder import placeholder_png

pytestmark = pytest.mark.timeout(30)

INVERT = {
    "10": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}, "_meta": {"title": "Source"}},
    "11": {"class_type": "ImageInvert", "inputs": {"image": ["10", 0]}},
    "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "inv"}, "_meta": {}},
}
SIDECAR = """name = "invert_user"
kind = "image"
tasks = ["image"]
[params.image]
type = "image"
required = true
bind = "Source.image"
"""


@pytest.fixture
def user_templates(tmp_path, settings):
    folder = tmp_path / "my-templates"
    folder.mkdir()
    (folder / "invert_user.json").write_text(json.dumps(INVERT))
    (folder / "invert_user.params.toml").write_text(SIDECAR)
    return settings.model_copy(update={"template_dirs": [str(folder)]})


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photos" / "local.png"
    path.parent.mkdir()
    path.write_bytes(placeholder_png("local photo", 8, 8))  # ComfyUI opens it with PIL: it must be an image
    return path


def sent_image(server, job_id: str, node: str) -> str:
    return server.history[job_id]["prompt"][2][node]["inputs"]["image"]


async def _client(server, settings):
    from genbridge.backends.comfyui import ComfyUIClient
    from genbridge.runtime.settings import Endpoint

    return ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)


@pytest.mark.parametrize("how", ["images", "image", "start_image"])
async def test_a_user_template_image_parameter_is_uploaded_whichever_key_names_it(
    server, user_templates, photo, tmp_path, helpers, how
):
    client = await _client(server, user_templates)
    try:
        inputs = {"images": {"image": str(photo)}} if how == "images" else {how: str(photo)}
        job = Job(task="image", template="invert_user", inputs=inputs)
        _, paths = await helpers.run(client, job, tmp_path / "out")
    finally:
        await client.close()
    assert paths
    name = sent_image(server, job.id, "10")
    assert name.startswith("genbridge/") and (server.dirs["input"] / name).read_bytes() == photo.read_bytes()
    assert "genbridge_upload" not in json.dumps(server.history[job.id]["prompt"][2])  # our marker never leaves


async def test_a_raw_workflow_whose_loadimage_names_a_local_file_uploads_it(client, server, photo, tmp_path, helpers):
    graph = json.loads(json.dumps(INVERT))
    graph["10"]["inputs"]["image"] = str(photo)
    job = Job(task="image", inputs={"workflow": graph})
    await helpers.run(client, job, tmp_path / "out")
    assert sent_image(server, job.id, "10") == "genbridge/local.png"


async def test_the_same_file_for_two_nodes_is_uploaded_once(client, server, photo, tmp_path, helpers):
    graph = json.loads(json.dumps(INVERT))
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": str(photo)}}
    graph["21"] = {"class_type": "SaveImage", "inputs": {"images": ["20", 0], "filename_prefix": "two"}}
    graph["10"]["inputs"]["image"] = str(photo)
    job = Job(task="image", inputs={"workflow": graph})
    await helpers.run(client, job, tmp_path / "out")
    assert server.requests.count(("POST", "/upload/image")) == 1
    assert sent_image(server, job.id, "10") == sent_image(server, job.id, "20") == "genbridge/local.png"


async def test_a_missing_local_image_is_named_before_anything_is_sent(client, server, tmp_path):
    job = Job(task="image", inputs={"workflow": INVERT, "images": {"Source": str(tmp_path / "nope.png")}})
    problems = await client.validate(job)
    assert problems and "nope.png" in problems[0].message
    with pytest.raises(RejectedInput, match=r"nope\.png"):
        await client.submit(job)
    assert ("POST", "/prompt") not in server.requests


def test_generate_input_option_uploads_a_template_image(user_templates, photo, tmp_path, monkeypatch, capsys):
    from genbridge.cli import main
    from genbridge.standins.comfyui import ComfyUIStandIn

    with ComfyUIStandIn(root=tmp_path / "comfy").running_in_thread() as server:
        (tmp_path / "genbridge.toml").write_text(
            f'template_dirs = ["{user_templates.template_dirs[0]}"]\ndata_dir = "{tmp_path / "data"}"\n'
        )
        monkeypatch.setenv("GENBRIDGE_CONFIG", str(tmp_path / "genbridge.toml"))
        for option in ("--input", "--set"):
            argv = ["generate", "--service", "comfyui", "--workflow", "invert_user", option, f"image={photo}"]
            code = main([*argv, "--url", server.url, "--output", str(tmp_path / "out"), "--timeout", "20"])
            assert code == 0, capsys.readouterr().err
        uploaded = sorted(p.name for p in (server.dirs["input"] / "genbridge").iterdir())
    assert uploaded == ["local.png"]  # the same bytes again: ComfyUI keeps one copy (and the second run is cached)
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 and all(p.endswith(".png") for p in printed)


def test_generate_input_option_names_a_loadimage_node_of_a_plain_workflow(photo, tmp_path, monkeypatch, capsys):
    from genbridge.cli import main
    from genbridge.standins.comfyui import ComfyUIStandIn

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(INVERT))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    with ComfyUIStandIn(root=tmp_path / "comfy").running_in_thread() as server:
        argv = ["generate", "--service", "comfyui", "--workflow", str(flow), "--input", f"Source={photo}"]
        code = main([*argv, "--url", server.url, "--output", str(tmp_path / "out"), "--timeout", "20"])
        assert code == 0, capsys.readouterr().err
        assert (server.dirs["input"] / "genbridge" / "local.png").read_bytes() == photo.read_bytes()


@pytest.mark.parametrize("version", ["0.3.64", "0.38"])
@pytest.mark.parametrize(
    ("task", "key", "template"),
    [
        ("quick_preview", "start_image", None),  # the storyboard's ComfyUI clip: wan21_i2v from the keyframe
        ("img2img", "image", None),  # sd15_img2img
        ("upscale", "image", None),  # upscale_model
        ("character_image", "reference_image", None),  # flux_kontext_character
    ],
)
async def test_bundled_image_templates_run_with_the_uploaded_image(
    settings, photo, tmp_path, helpers, version, task, key, template
):
    from genbridge.standins.comfyui import ComfyUIStandIn
    from genbridge.standins.comfyui.cli import bundled_models

    async with ComfyUIStandIn(root=tmp_path / "comfy", version=version, models=bundled_models()) as server:
        client = await _client(server, settings)
        try:
            job = Job(task=task, template=template, inputs={"prompt": "a lighthouse", key: str(photo), "seed": 7})
            _, paths = await helpers.run(client, job, tmp_path / "out")
        finally:
            await client.close()
        sent = json.dumps(server.history[job.id]["prompt"][2])
    assert paths
    assert "genbridge/local.png" in sent and str(photo) not in sent


@pytest.mark.parametrize("version", ["0.3.64", "0.38"])
async def test_every_bundled_template_passes_the_servers_validation(settings, photo, tmp_path, version):
    """R5: each bundled template, as the client sends it, is accepted by a server as strict as the real one
    (a 400 fails), on both versions: SaveVideo's flat codec on 0.3.64, its dynamic `format.codec` on 0.38."""
    from genbridge.standins.comfyui import ComfyUIStandIn
    from genbridge.standins.comfyui.cli import bundled_models
    from genbridge.workflows import list_templates

    names = [t.name for t in list_templates() if t.source == "bundled" and t.template is not None]
    assert len(names) >= 8
    async with ComfyUIStandIn(root=tmp_path / "comfy", version=version, models=bundled_models()) as server:
        server.node_delay = 5.0  # accepted is enough: nothing needs to run
        client = await _client(server, settings)
        try:
            for name in names:
                template = next(t.template for t in list_templates() if t.name == name)
                inputs = {"prompt": "a lighthouse", "seed": 3}
                inputs |= {p: str(photo) for p, spec in template.params.items() if spec.type == "image"}
                job = Job(task="image", template=name, inputs=inputs)
                await client.submit(job)  # raises on a 400
                await client.cancel(job)
        finally:
            await client.close()
