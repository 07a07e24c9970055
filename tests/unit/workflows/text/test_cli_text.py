"""`python -m genbridge text` through the real runtime, router and proxy."""

from __future__ import annotations

import pytest
from genbridge.cli import main
from genbridge.standins.litellm_proxy import MOCK_TEXT


@pytest.fixture
def cli_env(litellm_proxy, monkeypatch, tmp_path):
    monkeypatch.setenv("GENBRIDGE_LITELLM_KEY", litellm_proxy.master_key)
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return litellm_proxy.url


def test_text_streams_the_answer_to_stdout(cli_env, capsys) -> None:
    assert main(["text", "Say hi", "--url", cli_env, "--model", "llama3"]) == 0
    assert capsys.readouterr().out == MOCK_TEXT + "\n"


def test_shotlist_prints_the_parsed_shots(cli_env, capsys) -> None:
    code = main(
        [
            "text",
            "--task",
            "shotlist",
            "--logline",
            "A keeper finds tomorrow",
            "--url",
            cli_env + "/v1",
            "--model",
            "storyboard-mock",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(" 1. [4 s] Dawn over") and "characters: Mara, the keeper" in out


def test_an_unparseable_shot_list_exits_2_and_shows_the_raw_answer(cli_env, capsys) -> None:
    code = main(["text", "--task", "shotlist", "--logline", "x", "--url", cli_env, "--model", "llama3"])
    captured = capsys.readouterr()
    assert code == 2 and MOCK_TEXT in captured.out and "not JSON" in captured.err


def test_an_unknown_model_lists_the_models_and_hints_the_cli_options(cli_env, capsys) -> None:
    assert main(["text", "Say hi", "--url", cli_env, "--model", "no-such-model"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty line before the error
    assert "no model named 'no-such-model'" in captured.err and "llama3" in captured.err
    assert "--model" in captured.err and "GENBRIDGE_TEXT_MODEL" in captured.err


def test_timeout_bounds_the_whole_answer(cli_env, capsys) -> None:
    assert main(["text", "Say hi", "--url", cli_env, "--model", "slow", "--timeout", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "took longer than the 0.3 s allowed for one answer" in err and "--timeout" in err
