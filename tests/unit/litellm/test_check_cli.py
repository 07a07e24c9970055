"""`genbridge check` against the real proxy: every failure shows in the table and counts in the exit code."""

from __future__ import annotations

import pytest
from genbridge.cli import main


@pytest.fixture
def only_litellm(litellm_proxy, monkeypatch, tmp_path):
    """A config with the proxy as the only endpoint; returns a writer taking the key and text model."""
    monkeypatch.delenv("GENBRIDGE_LITELLM_KEY", raising=False)
    monkeypatch.delenv("GENBRIDGE_TEXT_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)

    def write(key: str, text_model: str = "") -> str:
        config = tmp_path / "genbridge.toml"
        model = f'text_model = "{text_model}"\n' if text_model else ""
        config.write_text(
            f'{model}comfyui = []\nwan2gp = []\n[[litellm]]\nurl = "{litellm_proxy.url}"\nkey = "{key}"\n'
        )
        return str(config)

    return write


def test_a_healthy_proxy_passes_and_the_table_names_its_models(only_litellm, litellm_proxy, capsys) -> None:
    assert main(["--config", only_litellm(litellm_proxy.master_key), "check"]) == 0
    out = capsys.readouterr().out
    assert "STATUS" in out and " ok " in out and "llama3" in out


def test_a_wrong_key_fails_in_the_table_and_the_exit_code(only_litellm, capsys) -> None:
    assert main(["--config", only_litellm("sk-wrong-key-1234"), "check"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "refused the API key" in out
    assert "sk-wrong-key-1234" not in out


def test_a_dead_model_behind_a_healthy_proxy_fails(only_litellm, litellm_proxy, capsys) -> None:
    assert main(["--config", only_litellm(litellm_proxy.master_key, "upstream-down"), "check"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "The model 'upstream-down'" in out and "not answering" in out


def test_an_unknown_text_model_fails_and_lists_the_models(only_litellm, litellm_proxy, capsys) -> None:
    assert main(["--config", only_litellm(litellm_proxy.master_key, "no-such-model"), "check"]) == 1
    out = capsys.readouterr().out
    assert "no model named 'no-such-model'" in out and "llama3" in out and "--model" in out
