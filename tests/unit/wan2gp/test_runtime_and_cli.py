"""WanGP through the real job service and the command line, against a stand-in on its own thread."""

from __future__ import annotations

import argparse
import time

import pytest
from genbridge.cli.generate_wan2gp import run_wan2gp
from genbridge.runtime import Runtime
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.wan2gp import Wan2GPStandIn


@pytest.mark.parametrize("contract", ["v1", "v2"])
def test_cancelling_a_running_job_through_the_runtime_ends_it_cancelled(contract, tmp_path):
    standin = Wan2GPStandIn(contract=contract, output_dir=tmp_path / "wan2gp", step_delay=0.05)
    with standin.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            wan2gp=[Endpoint(service="wan2gp", url=url)],
        )
        runtime = Runtime(settings=lambda: settings, emit=lambda event: None)
        handle = runtime.submit(
            {"task": "video", "requested_service": "wan2gp", "inputs": {"model": "t2v", "prompt": "boat", "steps": 400}}
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (standin.active and len(standin.active.events) > 5):
            time.sleep(0.02)
        handle.cancel()
        final = handle.done.result(timeout=20)
        assert final["state"] == "cancelled"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not standin.active.done:
            time.sleep(0.02)
        assert standin.active.cancel_requested and standin.active.done
        assert runtime.shutdown(2.0)


def test_generate_command_prints_the_output_path(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.01)
    with standin.run_in_thread() as url:
        args = argparse.Namespace(
            service="wan2gp",
            model="t2v",
            prompt="a paper boat",
            url=url,
            output=str(tmp_path / "out"),
            sets=["steps=2", "frames=17"],
            timeout=60,
            config=None,
        )
        assert run_wan2gp(args) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].endswith(".mp4")
    assert (tmp_path / "out") in __import__("pathlib").Path(printed[0]).parents


def test_generate_command_fails_with_what_is_valid_for_an_unknown_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    standin = Wan2GPStandIn(contract="v2", output_dir=tmp_path / "wan2gp")
    with standin.run_in_thread() as url:
        args = argparse.Namespace(
            model="t2vv", prompt="x", url=url, output=str(tmp_path / "out"), sets=[], timeout=60, config=None
        )
        assert run_wan2gp(args) == 1
        assert standin.generate_calls() == []
    assert "similar: t2v" in capsys.readouterr().err


FLF_INPUTS = {
    "prompt": "a move between two camera renders",
    "model": "wan2.1_flf2v_720p_14B_fp8_e4m3fn.safetensors",  # the template's ComfyUI file
    "cfg": 6.0,
    "sampler": "uni_pc",
    "width": 832,
    "height": 480,
    "frames": 17,
    "steps": 2,
}


def _flf_images(tmp_path) -> dict:
    from genbridge.standins.placeholder import placeholder_png

    out = {}
    for key in ("start_image", "end_image"):
        path = tmp_path / f"{key}.png"
        path.write_bytes(placeholder_png(key, 64, 48))
        out[key] = str(path)
    return out


@pytest.mark.parametrize("contract", ["v1", "v2"])
def test_the_router_sends_a_first_last_frame_template_job_to_wangp_with_both_images(contract, tmp_path):
    standin = Wan2GPStandIn(contract=contract, output_dir=tmp_path / "wan2gp", step_delay=0.01)
    with standin.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            comfyui=[],
            wan2gp=[Endpoint(service="wan2gp", url=url)],
        )
        runtime = Runtime(settings=lambda: settings, emit=lambda event: None)
        spec = {"task": "final_video", "template": "wan21_flf2v", "inputs": {**FLF_INPUTS, **_flf_images(tmp_path)}}
        final = runtime.submit(spec).done.result(timeout=30)
        assert final["state"] == "done", final.get("error")
        assert final["service"] == "wan2gp" and final["plan"][0]["service"] == "wan2gp"
        (sent,) = standin.generate_calls()
        settings_sent = sent.get("source", sent.get("settings"))
        assert settings_sent["model_type"] == "flf2v_720p" and settings_sent["image_prompt_type"] == "SE"
        assert settings_sent["image_end"] in standin.gallery
        assert any(a.startswith("model wan2.1_flf2v") for a in final["adjustments"])
        assert runtime.shutdown(2.0)


def test_a_journaled_flf_job_resumed_after_a_restart_still_sends_its_end_image(tmp_path):
    from genbridge.runtime.jobs import Job
    from genbridge.runtime.journal import Journal

    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.01)
    with standin.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            comfyui=[],
            wan2gp=[Endpoint(service="wan2gp", url=url)],
        )
        images = _flf_images(tmp_path)
        # Blender closed while the job waited in line: journaled with its inputs, never sent.
        job = Job(task="final_video", template="wan21_flf2v", inputs={**FLF_INPUTS, **images}, state="queued")
        Journal(settings.data_path / "journal.jsonl").append(job.snapshot())
        done: list = []
        runtime = Runtime(settings=lambda: settings, emit=lambda e: done.append(e) if e.kind == "state" else None)
        assert runtime.resume()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            e.state in ("done", "failed") for e in done if e.job_id == job.id
        ):
            time.sleep(0.02)
        finals = [e for e in done if e.job_id == job.id and e.state in ("done", "failed")]
        assert finals and finals[-1].state == "done", finals[-1].job.get("error") if finals else done
        (sent,) = standin.generate_calls()
        settings_sent = sent["source"]
        assert settings_sent["image_prompt_type"] == "SE"
        end = standin.gallery[settings_sent["image_end"]]["_path"]
        assert open(end, "rb").read() == open(images["end_image"], "rb").read()
        assert runtime.shutdown(2.0)


def test_a_chosen_size_is_kept_on_the_record_and_refused_while_an_open_one_is_moved(tmp_path):
    standin = Wan2GPStandIn(contract="v2", output_dir=tmp_path / "wan2gp", step_delay=0.01)
    with standin.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            comfyui=[],
            wan2gp=[Endpoint(service="wan2gp", url=url)],
        )
        runtime = Runtime(settings=lambda: settings, emit=lambda event: None)
        inputs = {"model": "ltx2_22B_distilled", "prompt": "a fox", "width": 832, "height": 480, "steps": 1}
        chosen = runtime.submit({"task": "video", "inputs": inputs, "chosen": ["height", "width"]})
        left_open = runtime.submit({"task": "video", "inputs": inputs, "chosen": ["steps"]})
        refused, moved = chosen.done.result(timeout=30), left_open.done.result(timeout=30)
        assert refused["state"] == "failed" and refused["chosen"] == ["height", "width"]
        assert "multiples of 64; the nearest valid size is 832x448" in refused["error"]["message"]
        assert moved["state"] == "done" and moved["chosen"] == ["steps"]
        assert (
            "resolution 832x480 -> 832x448: LTX-2 2.3 Distilled 1.0 22B needs multiples of 64" in moved["adjustments"]
        )
        (sent,) = standin.generate_calls()
        assert sent["settings"]["resolution"] == "832x448"
        assert runtime.shutdown(2.0)


def test_a_running_flf_job_re_attached_after_a_restart_keeps_its_images_and_is_not_sent_again(tmp_path):
    from ..runtime.test_reattach import TERMINAL, Recorder, journal_of, start_runtime

    standin = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.05)
    with standin.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            comfyui=[],
            wan2gp=[Endpoint(service="wan2gp", url=url)],
        )
        images = _flf_images(tmp_path)
        first = Recorder()
        runtime = Runtime(settings=lambda: settings, emit=first)
        spec = {"task": "final_video", "template": "wan21_flf2v", "inputs": {**FLF_INPUTS, **images, "steps": 40}}
        handle = runtime.submit(spec)
        first.wait_state(handle.job_id, ("running",))
        assert runtime.shutdown(2.0)  # Blender closes while WanGP generates
        journaled = journal_of(settings).latest()[handle.job_id]
        assert journaled["inputs"]["end_image"] == images["end_image"] and journaled["template"] == "wan21_flf2v"

        second = Recorder()
        runtime = start_runtime(settings, second)
        try:
            final = second.wait_state(handle.job_id, TERMINAL, timeout=30).job
            assert final["state"] == "done", final.get("error")
            assert final["inputs"]["end_image"] == images["end_image"]
            (sent,) = standin.generate_calls()  # re-attaching polls; it never uploads or generates again
            assert sent["source"]["image_prompt_type"] == "SE" and sent["source"]["image_end"] in standin.gallery
            assert len([c for c in standin.calls if c[0] == "wangp_create_gallery_upload"]) == 2
        finally:
            assert runtime.shutdown(2.0)
