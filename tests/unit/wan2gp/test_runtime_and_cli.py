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
