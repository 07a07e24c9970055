"""The stand-in rejects what the real server rejects: every captured `POST /prompt`, replayed, gets the captured
status and body (both server versions), unknown classes are refused, and all 478 real schemas are enforced."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp
import pytest
from genbridge.standins.comfyui.schema import build_object_info, full_object_info
from genbridge.standins.comfyui.validation import validate_prompt
from genbridge.standins.comfyui.wire import sampler_graph
from genbridge.standins.fixtures import fixtures_dir, load_fixture

pytestmark = pytest.mark.timeout(60)


def _captured_prompts() -> list[Any]:
    cases = []
    for path in sorted(fixtures_dir("comfyui").glob("[0-9][0-9]_*.json")):
        data = load_fixture("comfyui", path.name)
        responses = {r["id"]: r for r in data["responses"]}
        for req in data["requests"]:
            resp = responses.get(req["id"])
            if req["method"] == "POST" and req["path"].removeprefix("/api") == "/prompt" and resp is not None:
                cases.append(pytest.param(req, resp, id=f"{path.name[:2]}-{req.get('label') or req['id']}"))
    return cases


def _input_files_of_the_capture_server() -> set[str]:
    """Files the capture server had in input/: every LoadImage name the captures use, but the missing one."""
    names = set()
    for case in _captured_prompts():
        graph = (case.values[0].get("json") or {}).get("prompt")
        for node in graph.values() if isinstance(graph, dict) else []:
            image = (node.get("inputs") or {}).get("image") if isinstance(node, dict) else None
            if node.get("class_type") == "LoadImage" and isinstance(image, str):
                names.add(image.removesuffix(" [input]"))
    return names - {"does_not_exist.png"}


async def _post(server: Any, req: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"headers": req.get("headers") or {}}
        if "data" in req:
            kwargs["data"] = req["data"]
        else:
            kwargs["json"] = req.get("json")
        async with http.post(f"{server.url}/prompt", **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body


@pytest.mark.parametrize(("req", "expected"), _captured_prompts())
async def test_every_captured_prompt_gets_the_captured_answer(server, req, expected):
    for name in _input_files_of_the_capture_server():
        (server.dirs["input"] / name).parent.mkdir(parents=True, exist_ok=True)
        (server.dirs["input"] / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    status, body = await _post(server, req)
    assert status == expected["status"]
    want = expected.get("json")
    if status == 500:
        assert body == expected["text"]
    elif status == 400 and server.v038 and want["error"]["type"] == "invalid_prompt":
        # 0.38 names a missing node (or class_type) as `missing_node_type`, with the node in extra_info.
        assert body["error"]["type"] == "missing_node_type" and body["node_errors"] == {}
        assert body["error"]["details"] == want["error"]["details"]
        assert body["error"]["extra_info"]["node_id"] == want["error"]["details"].removeprefix("Node ID '#")[:-1]
    elif status == 400:
        assert body == want
    elif status == 200:
        assert body["node_errors"] == want["node_errors"]
        if "prompt_id" in (req.get("json") or {}):
            assert body["prompt_id"] == want["prompt_id"]


@pytest.mark.parametrize("cls", ["FancyBlur", "emptyimage", "EmptyImage ", "", "KSampler (Efficient)"])
async def test_unknown_node_classes_are_refused(server, cls):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": cls, "inputs": {"image": ["1", 0]}, "_meta": {"title": "My node"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    status, body = await _post(server, {"json": {"prompt": graph}})
    assert status == 400 and body["node_errors"] == {}
    if server.v038:
        assert body["error"]["type"] == "missing_node_type"
        assert body["error"]["message"] == "Node 'My node' not found. The custom node may not be installed."
        assert body["error"]["extra_info"] == {"node_id": "2", "class_type": cls, "node_title": "My node"}
    else:
        assert body["error"] == {
            "type": "invalid_prompt",
            "message": f"Cannot execute because node {cls} does not exist.",
            "details": "Node ID '#2'",
            "extra_info": {},
        }


SD15 = sampler_graph("v1-5.safetensors", steps=2)


def test_a_model_file_is_not_in_the_list_of_a_server_without_models():
    verdict = validate_prompt(copy.deepcopy(SD15), build_object_info("0.3.64", None), None)
    assert not verdict.ok and verdict.error["type"] == "prompt_outputs_failed_validation"
    (error,) = verdict.node_errors["1"]["errors"]
    assert error["type"] == "value_not_in_list" and error["details"] == "ckpt_name: 'v1-5.safetensors' not in []"
    assert verdict.node_errors["1"]["dependent_outputs"] == ["6"]


def test_a_model_file_is_accepted_when_the_server_has_it():
    schemas = build_object_info("0.3.64", {"checkpoints": ["v1-5.safetensors"]})
    assert validate_prompt(copy.deepcopy(SD15), schemas, None).ok


def test_widget_values_are_coerced_and_range_checked_like_the_server():
    graph = copy.deepcopy(SD15)
    graph["4"]["inputs"] |= {"steps": "3", "cfg": 1000, "sampler_name": "superfast"}
    verdict = validate_prompt(graph, build_object_info("0.3.64", {"checkpoints": ["v1-5.safetensors"]}), None)
    errors = {e["extra_info"]["input_name"]: e for e in verdict.node_errors["4"]["errors"]}
    assert errors["cfg"]["message"] == "Value 1000.0 bigger than max of 100.0"
    assert (
        errors["sampler_name"]["type"] == "value_not_in_list"
        and errors["sampler_name"]["extra_info"]["input_config"] is None
    )
    assert graph["4"]["inputs"]["steps"] == 3  # coerced in place, as stored in the queue and history


def test_a_dependency_loop_is_refused_in_both_versions():
    graph = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    old = validate_prompt(copy.deepcopy(graph), build_object_info("0.3.64", None), None)
    new = validate_prompt(copy.deepcopy(graph), build_object_info("0.38", None), None, v038=True)
    assert not old.ok and not new.ok
    assert any(e["type"] == "dependency_cycle" for n in new.node_errors.values() for e in n["errors"])


def _probe_graph(cls: str, info: dict[str, Any]) -> dict[str, Any] | None:
    graph: dict[str, Any] = {"1": {"class_type": cls, "inputs": {}}}
    if not info.get("output_node"):
        if not info.get("output"):
            return None  # neither an output nor linkable: the server never validates it
        graph["2"] = {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
    return graph


@pytest.mark.parametrize("version", ["0.3.64", "0.38"])
def test_every_one_of_the_478_classes_enforces_its_required_inputs(version):
    schemas = build_object_info(version, None)
    assert len(full_object_info()) == 478
    checked = 0
    for cls, info in schemas.items():
        graph = _probe_graph(cls, info)
        if graph is None:
            continue
        verdict = validate_prompt(graph, schemas, None, v038=version == "0.38")
        required = list(info["input"].get("required") or {})
        got = [e["details"] for e in verdict.node_errors.get("1", {}).get("errors", [])]
        assert got == required, cls
        assert verdict.ok is (not required), cls
        checked += 1
    assert checked > 470
