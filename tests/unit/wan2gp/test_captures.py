"""One test per captured scenario: the client's parsing and decisions against the real WanGP 12.60 replies
(and the static v2 contract)."""

from __future__ import annotations

import aiohttp
import pytest
from genbridge.backends.wan2gp import errors
from genbridge.backends.wan2gp.client import Wan2GPClient
from genbridge.backends.wan2gp.contract import V1, V2, detect_contract
from genbridge.backends.wan2gp.models import DownloadTicket, JobSnapshot, ModelSchema, UploadReceipt, UploadTicket
from genbridge.backends.wan2gp.profiles import lightest_profile_for, memory_needs
from genbridge.backends.wan2gp.rpc import ToolError, unwrap_structured
from genbridge.runtime.errors import AuthError, IncompatibleServer, OutOfMemory, RejectedInput, ServerError
from genbridge.standins.fixtures import load_fixture
from genbridge.standins.wan2gp import Wan2GPStandIn


def result_of(name: str, part: str | None = None):
    capture = load_fixture("wan2gp", name)
    capture = capture[part] if part else capture
    return capture["response"]["body"]["result"]


def tool_error(name: str) -> ToolError:
    capture = load_fixture("wan2gp", name)
    result = capture["response"]["body"]["result"]
    assert result["isError"] is True
    return ToolError(capture["request"]["body"]["params"]["name"], result["content"][0]["text"])


def test_02_tools_list_is_detected_as_early_v1():
    contract = detect_contract(result_of("02_tools_list.json")["tools"], "http://x/mcp")
    assert contract.version == V1 and contract.media_key == "gallery_id"
    assert contract.generate({"model_type": "t2v"}, 50)[1]["wait"] is False


def test_70_v2_contract_is_detected_and_sync_servers_wait_briefly_then_poll():
    tools = load_fixture("wan2gp", "70_static_mcp_v2_contract_upstream.json")["tools"]
    listed = [{"name": n, "inputSchema": {"properties": {"wait": {"const": True}}}} for n in tools]
    contract = detect_contract(listed, "http://x/mcp")
    assert contract.version == V2 and not contract.async_generate and contract.media_key == "media_id"
    name, args = contract.generate({"model_type": "t2v", "prompt": "x"}, 50)
    assert name == "wangp_generate" and args["wait"] is True and args["timeout_s"] == 2.0
    assert contract.get_job("j", 50) == (
        "wangp_session",
        {"action": "get_job", "arguments": {"job_id": "j", "event_limit": 50}},
    )


def test_an_unknown_tool_set_is_an_incompatible_server_that_says_how_to_start_wan2gp():
    with pytest.raises(IncompatibleServer) as err:
        detect_contract([{"name": "txt2img"}, {"name": "upscale"}], "http://127.0.0.1:7866/mcp")
    assert "txt2img" in err.value.message and "--mcp-transport streamable-http" in err.value.hint


def test_07_schema_is_unwrapped_and_gives_the_frame_rule():
    value = unwrap_structured(result_of("07_model_schema_ltx2_22B_distilled.json"))
    schema = ModelSchema.model_validate(value["metadata"])
    assert schema.frame_rule().snap(30) == 33 and schema.accepts_start_image
    t2v = ModelSchema.model_validate(unwrap_structured(result_of("07_model_schema_t2v.json"))["metadata"])
    assert t2v.frame_rule().snap(80) == 81 and not t2v.accepts_start_image


def test_11_unknown_model_schema_is_null_not_an_error():
    assert unwrap_structured(result_of("11_unknown_model_schema.json")) is None


def test_11b_and_11c_tool_errors_lose_their_prefix():
    assert tool_error("11b_unknown_model_defaults.json").text == "Unknown model_type: no_such_model"
    assert tool_error("11c_unknown_tool.json").text == "Unknown tool: wangp_models"


def test_32_busy_refusal_is_recognised_as_busy():
    assert "already has a generation in progress" in tool_error("32_generate_while_busy.json").text


def test_30_direct_path_and_30b_bad_source_are_the_users_input_errors():
    for name in ("30_generate_direct_path_rejected.json", "30b_generate_bad_source_type.json"):
        assert isinstance(errors.from_tool(tool_error(name)), RejectedInput)


def test_31_submit_reply_carries_the_job_id_and_is_running():
    snap = JobSnapshot.model_validate(unwrap_structured(result_of("31_generate_t2v_submit.json")))
    assert snap.job_id == "86d4a2d4edb84897a72784f14e47e3ae" and not snap.done


def test_33_final_failed_download_maps_to_a_server_error_about_weights():
    snap = JobSnapshot.model_validate(unwrap_structured(result_of("33_get_job_final.json")))
    assert snap.done and not snap.succeeded and not snap.cancelled
    with pytest.raises(ServerError) as err:
        Wan2GPClient._raise_for_result(snap)
    assert "weights" in err.value.message


def test_35_stream_flood_yields_only_status_and_error_news():
    from genbridge.backends.wan2gp.progress import ProgressTracker

    snap = JobSnapshot.model_validate(unwrap_structured(result_of("35_get_job_all_events.json")))
    events = ProgressTracker().feed(snap.events)
    texts = [getattr(e, "phase", None) or getattr(e, "message", "") for e in events]
    assert texts[0] == "Loading model Wan2.1 Text2video 14B" and "generation" in texts[1]
    assert len(events) == 2  # 113 stream lines ignored


def test_36_unknown_job_id_is_a_tool_error():
    assert "Unknown WanGP job_id" in tool_error("36_get_job_unknown_id.json").text
    assert "Unknown WanGP job_id" in tool_error("36b_cancel_unknown_id.json").text


def test_40_unknown_model_on_v1_fails_as_a_runtime_error():
    snap = JobSnapshot.model_validate(unwrap_structured(result_of("40_generate_unknown_model_wait.json")))
    with pytest.raises(ServerError) as err:
        Wan2GPClient._raise_for_result(snap)
    assert "runtime" in err.value.message


def test_41_wait_timeout_is_why_v1_never_waits():
    assert tool_error("41_generate_wait_timeout.json").text == "WanGP session job timed out"


def test_43_44_cancel_during_a_failing_download_counts_as_cancelled():
    running = JobSnapshot.model_validate(unwrap_structured(result_of("43_cancel_job_running.json")))
    assert running.cancel_requested and not running.done
    final = JobSnapshot.model_validate(unwrap_structured(result_of("44_get_job_after_cancel_done.json")))
    assert final.cancelled and final.result is not None and not final.result.cancelled


def test_20_22_transfer_tickets_and_receipt_parse():
    ticket = UploadTicket.model_validate(unwrap_structured(result_of("20_gallery_upload.json", "create_ticket")))
    assert ticket.upload_url.startswith("/wangp_api/gallery/upload/")
    receipt = UploadReceipt.model_validate(
        load_fixture("wan2gp", "20_gallery_upload.json")["put_upload"]["response"]["body"]
    )
    assert receipt.id == "visual:e7e2438970b0"
    down = DownloadTicket.model_validate(unwrap_structured(result_of("22_gallery_download.json", "create_ticket")))
    assert down.size == 7510 and down.filename == "start.png"


def test_out_of_memory_errors_map_to_out_of_memory():
    error = errors.from_job_record("CUDA out of memory. Tried to allocate", "generation", remote_id="abc")
    assert isinstance(error, OutOfMemory) and error.remote_id == "abc"


def test_profiles_give_the_router_vram_and_ram_needs():
    assert memory_needs(1)["vram_gb"] == 24.0 and memory_needs(5)["ram_gb"] == 24.0
    assert memory_needs(4, "t2v_1.3B")["vram_gb"] < memory_needs(4, "t2v")["vram_gb"]
    assert lightest_profile_for(24) == 1 and lightest_profile_for(11) == 5 and lightest_profile_for(4) is None


async def test_00_the_307_redirect_is_followed_and_01b_a_missing_accept_header_is_refused():
    server = Wan2GPStandIn()
    url = await server.start()
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        async with aiohttp.ClientSession() as session:
            async with session.post(
                url, json=body, allow_redirects=False, headers={"Accept": "application/json, text/event-stream"}
            ) as resp:
                assert resp.status == 307 and resp.headers["Location"].endswith("/mcp/")
            async with session.post(url + "/", json=body, headers={"Accept": "application/json"}) as resp:
                assert resp.status == 406
    finally:
        await server.stop()


async def test_a_server_with_auth_refuses_without_the_token_and_works_with_it(new_client):
    server = Wan2GPStandIn(token="s3cret")
    await server.start()
    try:
        anonymous, keyed = new_client(server.url), new_client(server.url, "s3cret")
        probe = await anonymous.probe()
        assert not probe.reachable and probe.error.code == AuthError.code
        assert "s3cret" not in str(probe.error)
        assert (await keyed.probe()).reachable
        await anonymous.close()
        await keyed.close()
    finally:
        await server.stop()


async def test_an_unreachable_server_probes_as_unreachable(new_client):
    client = new_client("http://127.0.0.1:9/mcp")
    probe = await client.probe()
    assert not probe.reachable and probe.error.code == "unreachable"
    await client.close()
