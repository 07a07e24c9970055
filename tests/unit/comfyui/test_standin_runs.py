"""Captured runs replayed against the stand-in: the same prompts give the same websocket message sequences
(fresh run, full cache hit, only the saver re-run, runtime errors) with the captured error texts."""

from __future__ import annotations

from typing import Any

import pytest
from genbridge.standins.comfyui.wire import run_prompt
from genbridge.standins.fixtures import load_fixture

pytestmark = pytest.mark.timeout(30)


def _captured_runs(name: str) -> list[tuple[dict[str, Any], list[tuple[str, Any]]]]:
    """(posted prompt, its text messages) per accepted prompt of a capture, in order."""
    data = load_fixture("comfyui", name)
    ok = {r["id"] for r in data["responses"] if r["status"] == 200}
    posted = [r["json"]["prompt"] for r in data["requests"] if r["path"] == "/prompt" and r["id"] in ok]
    runs, current = [], []
    for m in data["ws_messages"]:
        if m.get("kind") != "text" or "sid" in m["data"] or m["type"] == "feature_flags":
            continue
        current.append((m["type"], m["data"]))
        if m["type"] == "executing" and m["data"].get("node") is None:
            runs.append(current)
            current = []
    return list(zip(posted, runs, strict=True))


def _types(texts: list[tuple[str, Any]]) -> list[str]:
    return [t for t, d in texts if "sid" not in d]  # the socket's greeting is not part of the run


async def test_fresh_cached_and_saver_only_runs_send_the_captured_sequences(server):
    first = load_fixture("comfyui", "02_basic_success.json")["requests"]
    await run_prompt(server.url, next(r["json"]["prompt"] for r in first if r["path"] == "/prompt"))
    for graph, captured in _captured_runs("03_cache_and_variation.json"):
        _, frames = await run_prompt(server.url, graph)
        assert _types(frames.texts) == [t for t, _ in captured]
        assert (
            frames.of("execution_cached")[0]["nodes"]
            == next(d for t, d in captured if t == "execution_cached")["nodes"]
        )


async def test_runtime_errors_send_the_captured_sequences_and_texts(server):
    (server.dirs["input"] / "corrupt.png").write_bytes(b"this is not an image")
    for graph, captured in _captured_runs("07_runtime_error.json"):
        _, frames = await run_prompt(server.url, graph)
        assert _types(frames.texts) == [t for t, _ in captured]
        (got,) = frames.of("execution_error")
        want = next(d for t, d in captured if t == "execution_error")
        for key in ("node_id", "node_type", "exception_type", "exception_message"):
            assert got[key] == want[key], key
        assert sorted(got["executed"]) == sorted(want["executed"])
