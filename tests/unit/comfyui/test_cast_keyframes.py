"""Cast keyframes against the ComfyUI stand-in: both references uploaded; a missing reference model reported by
pre-flight with the fix; text to image instead only when the storyboard allows it."""

from __future__ import annotations

import pytest
from genbridge import storyboard as sb
from genbridge.backends.comfyui import ComfyUIClient
from genbridge.runtime.errors import IncompatibleServer
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint
from genbridge.standins.comfyui import ComfyUIStandIn
from genbridge.standins.comfyui.cli import bundled_models
from genbridge.standins.placeholder import placeholder_png
from genbridge.storyboard.cast import Cast, Reference

pytestmark = pytest.mark.timeout(60)
SHOTLIST = {"shots": [{"description": "Mara and the keeper on the pier", "characters": ["Mara", "the keeper"]}]}


def _job(tmp_path, allow: bool = False) -> Job:
    cast = Cast()
    cast.add_from_shots(sb.shots_from_shotlist(SHOTLIST))
    for c, color in zip(cast.characters, ("mara", "keeper"), strict=True):
        path = tmp_path / f"{color}.png"
        path.write_bytes(placeholder_png(color, 16, 16))
        c.references.append(Reference(str(path)))
    options = sb.StoryboardOptions(keyframe_width=256, keyframe_height=144, allow_text_fallback=allow)
    spec = sb.plan_storyboard(sb.shots_from_shotlist(SHOTLIST), group="g", options=options, cast=cast)[0]
    return Job(id=spec["id"], task=spec["task"], template=spec["template"], inputs=spec["inputs"], seed=7)


def _without_kontext() -> dict[str, list[str]]:
    models = bundled_models()
    models["diffusion_models"] = [m for m in models["diffusion_models"] if "kontext" not in m]
    return models


async def _run(models, tmp_path, job, settings, helpers):
    async with ComfyUIStandIn(root=tmp_path / "comfy", models=models) as server:
        client = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)
        try:
            _, paths = await helpers.run(client, job, tmp_path / "out")
        finally:
            await client.close()
        return server, paths


async def test_two_cast_members_upload_both_references(tmp_path, settings, helpers):
    job = _job(tmp_path)
    server, paths = await _run(bundled_models(), tmp_path, job, settings, helpers)
    assert paths
    graph = server.history[job.id]["prompt"][2]
    loads = {n["_meta"]["title"]: n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage"}
    assert set(loads) == {"Reference 1", "Reference 2"}
    assert (server.dirs["input"] / loads["Reference 1"]).read_bytes() == (tmp_path / "mara.png").read_bytes()
    assert (server.dirs["input"] / loads["Reference 2"]).read_bytes() == (tmp_path / "keeper.png").read_bytes()
    assert [r["character"] for r in job.inputs["cast"]["references"]] == ["Mara", "the keeper"]
    assert job.adjustments == []


async def test_a_missing_reference_model_is_reported_with_the_fix(tmp_path, settings, helpers):
    job = _job(tmp_path)
    with pytest.raises(IncompatibleServer) as err:
        await _run(_without_kontext(), tmp_path, job, settings, helpers)
    text = str(err.value)
    assert "flux1-dev-kontext_fp8_scaled.safetensors" in text and "diffusion_models" in text
    assert "put the missing model files into the named ComfyUI/models folders" in text
    assert "text-to-image fallback" in text


async def test_with_the_fallback_allowed_the_keyframe_is_made_from_text_and_says_so(tmp_path, settings, helpers):
    job = _job(tmp_path, allow=True)
    server, paths = await _run(_without_kontext(), tmp_path, job, settings, helpers)
    assert paths
    graph = server.history[job.id]["prompt"][2]
    assert not any(n["class_type"] == "LoadImage" for n in graph.values())
    assert any(n["class_type"] == "CheckpointLoaderSimple" for n in graph.values())  # the plain keyframe template
    assert len(job.adjustments) == 1 and "without the cast references" in job.adjustments[0]
    assert "flux1-dev-kontext_fp8_scaled.safetensors" in job.adjustments[0]
