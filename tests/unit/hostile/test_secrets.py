"""Secrets (issue 15.3): no key and no URL user info in messages, logs, the journal, command output or saved data.

Servers here echo the bearer key back in their error bodies; settings carry `user:password@` in URLs. Each test
checks what the user sees and that the secret is nowhere: not in stdout/stderr, the log, the journal or outputs.
"""

from __future__ import annotations

import json
import logging

import pytest
from genbridge.cli import main
from genbridge.runtime import Runtime
from genbridge.runtime.errors import ConfigError, ServerError
from genbridge.runtime.netpolicy import is_loopback
from genbridge.runtime.redact import MASK, redact, redact_data
from genbridge.runtime.settings import Endpoint, Settings

pytestmark = pytest.mark.timeout(30)

PASSWORD = "hunter2-url-password"


# -- keys echoed by servers ---------------------------------------------------------------------------------------
def test_an_error_quoting_the_key_shows_it_masked(secret):
    err = ServerError(f"bad token Bearer {secret}", hint=f"token was {secret}", detail=secret)
    assert secret not in str(err) and secret not in err.detail
    assert f"Bearer {MASK}" in err.message


def test_a_key_from_settings_is_masked_even_without_the_environment(guard):
    key = "sk-from-toml-0123456789"
    Settings.from_mapping({"litellm": [{"url": "http://127.0.0.1:4000", "key": key}]})
    assert redact(f"echo {key}!") == f"echo {MASK}!"
    assert redact_data({"a": [f"x{key}", 3, None]}) == {"a": [f"x{MASK}", 3, None]}


def test_log_records_are_masked_in_message_arguments_and_tracebacks(secret, guard):
    log = logging.getLogger("genbridge.backends.anything")
    log.warning("server said %s", f"Bearer {secret}")
    try:
        raise ValueError(f"body: {secret}")
    except ValueError:
        log.exception("unexpected reply")
    assert "server said Bearer ***" in guard.caplog.text
    guard.assert_no_secret()


def test_a_litellm_server_that_echoes_the_key_never_gets_it_printed_or_journaled(
    secret, guard, hostile, scripts, tmp_path, capsys, monkeypatch
):
    server = hostile(scripts.echo_authorization(status=401))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_OUTPUT_DIR", str(tmp_path / "out"))
    code = main(["text", "--url", server.url, "--model", "m", "--no-stream", "hello"])
    out, err = capsys.readouterr()
    assert code == 2
    assert any(secret.encode() in r for r in server.requests), "the key was sent (to this server only)"
    guard.assert_no_secret(out, err, files=tmp_path / "data")
    guard.assert_no_secret(files=tmp_path / "out")
    assert "error:" in err


def test_the_journal_and_events_of_a_job_failing_with_the_key_in_its_message_hold_no_key(secret, guard, tmp_path):
    class EchoingClient:
        service = "comfyui"

        def __init__(self, endpoint, settings):
            self.endpoint = endpoint

        async def validate(self, job):
            return []

        async def submit(self, job):
            raise ValueError(f"server echoed Authorization: Bearer {secret}")  # not even a GenBridgeError

        async def close(self):
            pass

    events: list = []
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    rt = Runtime(settings=lambda: settings, emit=events.append, client_factory=EchoingClient, reattach=False)
    handle = rt.submit({"task": "image", "requested_service": "comfyui", "inputs": {"prompt": "a fox"}})
    final = handle.done.result(timeout=10)
    rt.shutdown()
    assert final["state"] == "failed"
    assert "Bearer ***" in final["error"]["message"]
    shown = json.dumps([e.model_dump() if hasattr(e, "model_dump") else str(e) for e in events]) + json.dumps(final)
    guard.assert_no_secret(shown, files=tmp_path / "data")


# -- user info in URLs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [f"http://user:{PASSWORD}@127.0.0.1:8188", f"http://{PASSWORD}@127.0.0.1:8188", f"https://:{PASSWORD}@localhost"],
)
def test_settings_refuse_user_info_in_urls_and_point_to_the_key_field(url):
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"comfyui": [{"url": url}]}, source="genbridge.toml")
    text = str(info.value)
    assert PASSWORD not in text
    assert "user name or password" in text and "Key field" in text and "GENBRIDGE_COMFYUI_KEY" in text


def test_endpoint_build_refuses_user_info_without_quoting_it():
    with pytest.raises(ConfigError) as info:
        Endpoint.build("litellm", f"http://me:{PASSWORD}@127.0.0.1:4000", source="--url")
    assert PASSWORD not in str(info.value) and "GENBRIDGE_LITELLM_KEY" in str(info.value)


def test_cli_url_with_user_info_is_refused_with_a_message(capsys, guard, tmp_path, monkeypatch):
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    code = main(["text", "--url", f"http://u:{PASSWORD}@127.0.0.1:4000", "hi"])
    out, err = capsys.readouterr()
    assert code == 2 and "user name or password" in err and "Traceback" not in err
    guard.assert_no_secret(out, err, files=tmp_path, secret=PASSWORD)


def test_check_with_user_info_in_the_toml_is_refused_and_prints_no_password(capsys, guard, tmp_path):
    config = tmp_path / "genbridge.toml"
    config.write_text(f'[[comfyui]]\nurl = "http://admin:{PASSWORD}@127.0.0.1:8188"\n')
    for extra in ([], ["--json"]):
        code = main(["--config", str(config), "check", *extra])
        out, err = capsys.readouterr()
        assert code == 2 and "user name or password" in err
        guard.assert_no_secret(out, err, secret=PASSWORD)


def test_environment_urls_with_user_info_are_refused(guard):
    with pytest.raises(ConfigError) as info:
        Settings.load(env={"GENBRIDGE_WAN2GP_URLS": f"http://x:{PASSWORD}@127.0.0.1:7866/mcp"})
    guard.assert_no_secret(str(info.value), secret=PASSWORD)


def test_the_preferences_row_shows_why_a_url_with_user_info_is_refused():
    from genbridge.ui.preferences_draw import url_problem

    problem = url_problem(f"http://u:{PASSWORD}@127.0.0.1:8188", online_access=False)
    assert "user name or password" in problem and PASSWORD not in problem
    with pytest.raises(ConfigError):
        is_loopback(f"http://u:{PASSWORD}@127.0.0.1:8188")


def test_any_url_user_info_in_free_text_is_stripped():
    assert redact(f"failed: http://u:{PASSWORD}@10.0.0.1:8188/x and https://tok@h/y") == (
        "failed: http://10.0.0.1:8188/x and https://h/y"
    )


def test_an_answer_that_echoes_the_key_is_masked_on_screen_in_files_and_in_the_journal(
    secret, guard, hostile, scripts, tmp_path, capsys, monkeypatch
):
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Your key is {secret}."}}],
    }
    server = hostile(scripts.answer(200, json.dumps(answer).encode(), {"Content-Type": "application/json"}))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_OUTPUT_DIR", str(tmp_path / "out"))
    code = main(["text", "--url", server.url, "--model", "m", "--no-stream", "what is my key?"])
    out, err = capsys.readouterr()
    assert code == 0 and "Your key is ***." in out
    assert list((tmp_path / "out").rglob("*.txt")), "the answer was written"
    guard.assert_no_secret(out, err, files=tmp_path)


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("json_output", [False, True])
def test_check_against_servers_that_echo_the_key_never_prints_it(
    secret, guard, hostile, scripts, tmp_path, capsys, monkeypatch, status, json_output
):
    """All three clients probe a server that quotes the Authorization header back; `check` shows none of it."""
    server = hostile(scripts.echo_authorization(status=status))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENBRIDGE_COMFYUI_URLS", server.url)
    monkeypatch.setenv("GENBRIDGE_WAN2GP_URLS", f"{server.url}/mcp")
    monkeypatch.setenv("GENBRIDGE_LITELLM_URLS", server.url)
    code = main(["check", *(["--json"] if json_output else [])])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert any(secret.encode() in r for r in server.requests), "the key was sent, so an echo was possible"
    guard.assert_no_secret(out, err, files=tmp_path)
