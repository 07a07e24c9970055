"""preflight_live against the ComfyUI stand-in: fetch once, reuse per server, refetch after a restart or change."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp
import pytest
from genbridge.runtime.errors import OnlineAccessRefused
from genbridge.standins.comfyui import ComfyUIStandIn
from genbridge.workflows import PreflightCache, preflight_live

SIMPLE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "gb"}},
}
WITH_CUSTOM = {**SIMPLE, "3": {"class_type": "FancyBlur", "inputs": {"image": ["1", 0]}}}


def _count(standin: ComfyUIStandIn, path: str) -> int:
    return sum(1 for _, p in standin.requests if p == path)


async def test_live_preflight_passes_a_valid_workflow_and_reuses_the_fetched_schemas() -> None:
    cache = PreflightCache()
    async with ComfyUIStandIn() as standin, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{standin.port}"
        assert await preflight_live(SIMPLE, url, session, cache) == []
        assert await preflight_live(SIMPLE, url, session, cache) == []
        assert _count(standin, "/object_info") == 1
        assert _count(standin, "/system_stats") == 2  # the second call only checks the server is the same


async def test_missing_node_found_with_cached_data_is_rechecked_against_fresh_data() -> None:
    cache = PreflightCache()
    async with ComfyUIStandIn() as standin, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{standin.port}"
        problems = await preflight_live(WITH_CUSTOM, url, session, cache)
        assert [p.fix for p in problems] == [{"kind": "missing_node", "class_type": "FancyBlur"}]
        # The user installs the custom node; the cached schemas are stale but must not be blamed.
        standin.object_info = {**standin.object_info, "FancyBlur": copy.deepcopy(standin.object_info["ImageInvert"])}
        assert await preflight_live(WITH_CUSTOM, url, session, cache) == []
        assert _count(standin, "/object_info") == 2


async def test_a_restarted_server_with_another_version_is_fetched_again(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PreflightCache()
    async with ComfyUIStandIn() as standin, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{standin.port}"
        await preflight_live(SIMPLE, url, session, cache)
        await standin.kill()
        monkeypatch.setattr(standin, "device", "cpu")  # the restarted server reports another torch build
        await standin.restart()
        assert await preflight_live(SIMPLE, url, session, cache) == []
        assert _count(standin, "/object_info") == 2


async def test_models_are_checked_against_the_servers_folder_lists() -> None:
    workflow: dict[str, Any] = {
        "3": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x.pth"}},
        **SIMPLE,
    }
    async with ComfyUIStandIn() as standin, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{standin.port}"
        problems = await preflight_live(workflow, url, session)
        fixes = sorted(str(p.fix) for p in problems if p.fix)
        # Like the captured server: it has the UpscaleModelLoader node but no files in upscale_models.
        assert fixes == [str({"kind": "missing_model", "folder": "upscale_models", "filename": "4x.pth"})]
        assert _count(standin, "/models/upscale_models") == 1


async def test_a_non_loopback_server_is_refused_without_online_access() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(OnlineAccessRefused):
            await preflight_live(SIMPLE, "http://192.0.2.1:8188", session)
