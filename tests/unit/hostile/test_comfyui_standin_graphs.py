"""Hostile graphs and requests against the ComfyUI stand-in: it answers like the real server and stays up.

A graph deep enough to exhaust the server's recursion, files named outside the input folder, a save prefix that
climbs out of output/, a wrong bearer token: each gets the server's answer, nothing is written outside the
stand-in's folders, the configured token is never echoed, and the next ordinary prompt still runs.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from genbridge.standins.comfyui import ComfyUIStandIn
from genbridge.standins.comfyui.wire import run_prompt

pytestmark = pytest.mark.timeout(30)

BASIC = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ok"}},
}


@pytest.fixture(params=["0.3.64", "0.38"])
async def standin(request, tmp_path):
    async with ComfyUIStandIn(root=tmp_path / "comfy", version=request.param, token="tok-DO-NOT-ECHO") as s:
        yield s


async def _post(server: ComfyUIStandIn, body: Any, token: str = "tok-DO-NOT-ECHO") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/prompt", json=body, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


def _files(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


async def test_a_graph_deeper_than_the_servers_stack_is_refused_and_the_server_keeps_serving(standin):
    graph = {"0": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}
    for i in range(1, 3000):
        graph[str(i)] = {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]}}
    graph["out"] = {"class_type": "SaveImage", "inputs": {"images": ["2999", 0], "filename_prefix": "deep"}}
    status, body = await _post(standin, {"prompt": graph})
    assert status == 400 and body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["out"]["errors"][0]["extra_info"]["exception_type"] == "RecursionError"
    assert (await _post(standin, {"prompt": BASIC}))[0] == 200


async def test_an_image_named_outside_the_input_folder_is_an_invalid_image_file(standin, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"\x89PNG outside")
    for name in ("../../secret.png", str(tmp_path / "secret.png"), "../secret.png [output]"):
        graph = {
            "1": {"class_type": "LoadImage", "inputs": {"image": name}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }
        status, body = await _post(standin, {"prompt": graph})
        assert status == 400
        assert body["node_errors"]["1"]["errors"][0]["details"] == f"image - Invalid image file: {name}"


async def test_a_save_prefix_climbing_out_of_output_fails_at_run_time_and_writes_nothing_outside(standin, tmp_path):
    before = _files(tmp_path)
    graph = {**BASIC, "2": {**BASIC["2"], "inputs": {**BASIC["2"]["inputs"], "filename_prefix": "../../escape"}}}
    _, frames = await run_prompt(standin.url, graph, headers={"Authorization": "Bearer tok-DO-NOT-ECHO"})
    (error,) = frames.of("execution_error")
    assert "Saving image outside the output folder is not allowed" in error["exception_message"]
    assert _files(tmp_path) == before


async def test_a_wrong_token_is_refused_without_echoing_either_token(standin):
    status, body = await _post(standin, {"prompt": BASIC}, token="wrong-token-XYZ")
    assert status == 401 and "error" in body
    assert "wrong-token-XYZ" not in str(body) and "tok-DO-NOT-ECHO" not in str(body)
    assert not standin.queue and not standin.history
