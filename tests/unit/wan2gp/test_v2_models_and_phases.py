"""v2 model listing as WanGP pages it (17.5), the upload refusal's reason (17.4), lost contact and cancel phases
(17.3, 17.6)."""

from __future__ import annotations

import time

import pytest
from genbridge.backends.wan2gp.rpc import ToolError
from genbridge.runtime import Runtime
from genbridge.runtime.errors import RejectedInput, Unreachable
from genbridge.runtime.events import BackendProgress
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.wan2gp import Wan2GPStandIn
from genbridge.standins.wan2gp.paging import ResultPages, search_v2

CATALOG = [
    {"model_type": f"m{i}", "name": f"Model {i}", "main_output": ["video"], "inputs": ["text"]} for i in range(45)
]


def test_summary_only_returns_the_count_without_items_as_wan2gp_does():
    result = search_v2(ResultPages(), CATALOG, {"action": "search", "arguments": {"summary_only": True}})
    assert result["count"] == 45 and "models" not in result


def test_v2_pages_by_cursor_with_unchanged_filters():
    pages, seen, cursor = ResultPages(), [], None
    for _ in range(5):
        arguments = {"filters": {"main_output": "video"}, "limit": 20, **({"cursor": cursor} if cursor else {})}
        result = search_v2(pages, CATALOG, {"action": "search", "arguments": arguments})
        seen += [m["model_type"] for m in result["models"]]
        cursor = result["next_cursor"]
        if not result["has_more"]:
            break
    assert seen == [f"m{i}" for i in range(45)]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"limit": 500}, "limit: 500 is not an integer from 1 to 100"),
        ({"page": 2}, "Additional properties are not allowed ('page' was unexpected)"),
        ({"cursor": "nope:20"}, "Unknown or expired cursor"),
    ],
)
def test_v2_search_refuses_what_wan2gp_refuses(arguments, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_v2(ResultPages(), CATALOG, {"action": "search", "arguments": arguments})


async def test_check_lists_every_video_model_on_a_v2_server(tmp_path, new_client):
    server = Wan2GPStandIn(contract="v2", output_dir=tmp_path / "wan2gp")
    await server.start()
    client = new_client(server.url)
    try:
        probe = await client.probe()
    finally:
        await client.close()
        await server.stop()
    assert probe.reachable and len(probe.models["video"]) == 144
    searches = [a for n, a in server.calls if n == "wangp_models"]
    assert searches and not any((a.get("arguments") or {}).get("summary_only") for a in searches)


async def test_a_refused_upload_shows_the_servers_reason(server, client, job_factory, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    job = job_factory(model="i2v_2_2", start_image=str(broken), steps=1)
    assert await client.validate(job) == []
    await client.submit(job)
    with pytest.raises(RejectedInput) as caught:
        async for _ in client.events(job):
            pass
    assert "WanGP refused the upload of broken.png (400): cannot identify image file" in caught.value.message


def _outlast_a_sync_submit(server) -> int:
    """Steps for a job that is still running when a v2 sync submit (waits 2 s) returns, so it gets polled."""
    if server.contract == "v2" and not server.async_generate:
        server.step_delay = 0.06
        return 50
    server.step_delay = 0.02
    return 3


async def test_a_dropped_poll_says_lost_contact_and_retrying_then_the_job_goes_on(server, client, job_factory):
    steps = _outlast_a_sync_submit(server)
    real_call, drops = client.rpc.call_tool, {"left": 2}

    async def flaky(name, args):
        wants_job = name == "wangp_get_job" or args.get("action") == "get_job"
        if wants_job and drops["left"]:
            drops["left"] -= 1
            raise Unreachable("Could not reach WanGP at test.", service="wan2gp")
        return await real_call(name, args)

    client.rpc.call_tool = flaky
    job = job_factory(steps=steps)
    assert await client.validate(job) == []
    await client.submit(job)
    phases = [e.phase async for e in client.events(job) if isinstance(e, BackendProgress)]
    lost = [p for p in phases if p.startswith("Lost contact with WanGP, retrying (")]
    assert lost[:2] == [f"Lost contact with WanGP, retrying (1/{lost[0].split('/')[1]}", lost[1]] and "(2/" in lost[1]
    assert phases.index(lost[-1]) < len(phases) - 1  # the phase moved on once contact was back


async def test_an_unknown_job_while_polling_is_not_retried(server, client, job_factory):
    real_call = client.rpc.call_tool

    async def forgetful(name, args):
        if name == "wangp_get_job" or args.get("action") == "get_job":
            raise ToolError(name, "Error executing tool wangp_get_job: 'Unknown WanGP job_id: x'")
        return await real_call(name, args)

    client.rpc.call_tool = forgetful
    job = job_factory(steps=_outlast_a_sync_submit(server))
    await client.validate(job)
    await client.submit(job)
    with pytest.raises(Exception, match="forgot this job"):
        async for _ in client.events(job):
            pass


def test_cancelling_shows_wan2gps_phase_and_a_slow_confirmation_is_a_clear_note(tmp_path, monkeypatch):
    from genbridge.backends.wan2gp.client import Wan2GPClient

    monkeypatch.setattr(Wan2GPClient, "cancel_wait_s", 0.3)  # WanGP takes longer than this to finish its step
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=2.0)
    events: list[object] = []
    with standin.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            wan2gp=[Endpoint(service="wan2gp", url=url)],
        )
        runtime = Runtime(settings=lambda: settings, emit=events.append)
        handle = runtime.submit(
            {"task": "video", "requested_service": "wan2gp", "inputs": {"model": "t2v", "prompt": "b"}}
        )
        for _ in range(400):
            if standin.active is not None:
                break
            time.sleep(0.02)
        handle.cancel()
        final = handle.done.result(timeout=20)
        assert runtime.shutdown(2.0)
    phases = [getattr(e, "phase", "") for e in events]
    notes = [getattr(e, "text", "") for e in events if getattr(e, "kind", "") == "log"]
    assert "Cancelling: WanGP finishes its current step" in phases
    assert final["state"] == "cancelled"
    assert any("did not finish its current step within 0 s of the cancel" in n for n in notes), notes
    assert not any(n.rstrip().endswith(":") for n in notes)
