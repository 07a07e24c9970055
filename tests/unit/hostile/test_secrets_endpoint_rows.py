"""Endpoint rows that cannot be used (issue 15 leftovers): a credentialed URL in one preferences row turns off only
that row; keys of 1-3 characters are refused where they are configured.

Why refuse short keys: every configured key is masked in messages, logs, the journal and streamed text, and
masking a 1-3 character value everywhere would garble ordinary text ("ab" in every message), while leaving it
unmasked would show it. In Blender's preferences the row shows what is wrong and how to fix it and the runtime
leaves it out; headless sources (TOML, environment, `--url`) stop with the message.
"""

from __future__ import annotations

import importlib
import json
import queue
import sys
from pathlib import Path

import pytest
from genbridge.cli import main
from genbridge.runtime import Runtime
from genbridge.runtime.endpoint_rows import row_problem
from genbridge.runtime.errors import ConfigError
from genbridge.runtime.redact import redact
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.ui.draw import PanelState, draw_status
from genbridge.ui.preferences_draw import draw_preferences

from .conftest import reply
from .test_blender_side_panel import fake_bpy, layout

pytestmark = pytest.mark.timeout(30)

PASSWORD = "hunter2-row-password"
MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fog rolls in"}, "finish_reason": "stop"}],
}


def chat_server():
    """An OpenAI-compatible server: a model list for GETs, one whole answer for a chat POST."""

    async def run(reader, writer, server):
        request = await server.read_request(reader)
        body = json.dumps(ANSWER).encode() if request.startswith(b"POST") else MODELS
        writer.write(reply(200, body, {"Content-Type": "application/json"}))
        await writer.drain()

    return run


def credentialed(url: str) -> str:
    return url.replace("http://", f"http://admin:{PASSWORD}@")


# -- one bad row among good ones (Blender's preferences) ------------------------------------------------------------
def test_a_credentialed_row_is_left_out_and_the_good_row_kept_with_the_reason(caplog):
    prefs = {
        "comfyui": [{"url": credentialed("http://127.0.0.1:8188")}, {"url": "http://127.0.0.1:8189", "label": "b"}]
    }
    settings = Settings.from_mapping(prefs, source="GenBridge preferences", skip_bad_endpoints=True)
    assert [e.url for e in settings.comfyui] == ["http://127.0.0.1:8189"]
    [problem] = settings.endpoint_problems
    assert problem["service"] == "comfyui" and problem["number"] == 1 and problem["url"] == "http://127.0.0.1:8188"
    assert "ComfyUI endpoint 1 (http://127.0.0.1:8188) holds a user name or password" in problem["message"]
    assert "Key field" in problem["hint"] and "user:password@" in problem["hint"]
    assert PASSWORD not in repr(settings.endpoint_problems) + repr(settings) + caplog.text
    assert settings.model_copy().endpoint_problems == settings.endpoint_problems


def test_headless_sources_still_stop_on_a_credentialed_url():
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"comfyui": [{"url": credentialed("http://127.0.0.1:8188")}]}, source="genbridge.toml")
    assert "user name or password" in str(info.value) and PASSWORD not in str(info.value)


def _runtime(prefs: dict, events: queue.SimpleQueue) -> Runtime:
    # The settings source returns a plain preferences snapshot, exactly as Blender's session does.
    return Runtime(settings=lambda: prefs, emit=events.put, monitor_health=False, reattach=False)


def _prefs(tmp_path: Path, litellm_rows: list[dict]) -> dict:
    return {
        "data_dir": str(tmp_path / "data"),
        "output_dir": str(tmp_path / "out"),
        "comfyui": [],
        "wan2gp": [],
        "litellm": litellm_rows,
        "text_model": "m",
    }


def test_jobs_route_around_a_credentialed_row_and_its_password_is_nowhere(hostile, tmp_path, guard):
    refused, good = hostile(chat_server()), hostile(chat_server())
    prefs = _prefs(tmp_path, [{"url": credentialed(refused.url), "label": "bad"}, {"url": good.url, "label": "good"}])
    events: queue.SimpleQueue = queue.SimpleQueue()
    runtime = _runtime(prefs, events)
    try:
        handle = runtime.submit({"task": "text", "inputs": {"prompt": "hi", "model": "m", "stream": False}})
        final = handle.done.result(timeout=20)
    finally:
        runtime.shutdown(2.0)
    assert final["state"] == "done", final.get("error")
    assert final["text"] == "fog rolls in" and final["instance"] == good.url
    assert refused.requests == [], "nothing was sent to the refused row"
    seen = []
    while not events.empty():
        seen.append(repr(events.get()))
    guard.assert_no_secret(*seen, repr(final), files=tmp_path, secret=PASSWORD)


def test_a_change_that_fixes_the_row_brings_it_back(hostile, tmp_path):
    server = hostile(chat_server())
    prefs = _prefs(tmp_path, [{"url": credentialed(server.url)}])
    events: queue.SimpleQueue = queue.SimpleQueue()
    runtime = _runtime(prefs, events)
    try:
        first = runtime.submit({"task": "text", "inputs": {"prompt": "hi", "model": "m", "stream": False}})
        failed = first.done.result(timeout=20)
        prefs["litellm"] = [{"url": server.url, "key": PASSWORD}]  # the password moved to the Key field
        runtime.update_settings()
        second = runtime.submit({"task": "text", "inputs": {"prompt": "hi", "model": "m", "stream": False}})
        done = second.done.result(timeout=20)
    finally:
        runtime.shutdown(2.0)
    assert failed["state"] == "failed"
    message = failed["error"]["message"]
    assert message.startswith("No usable LiteLLM endpoint for ") and "holds a user name or password" in message
    assert "Key field" in failed["error"]["hint"] and PASSWORD not in repr(failed)
    assert done["state"] == "done"
    assert any(f"Bearer {PASSWORD}".encode() in r for r in server.requests), "the key field is used"


def test_the_status_box_shows_the_row_problem_and_never_the_password(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bpy", fake_bpy(tmp_path))
    monkeypatch.delitem(sys.modules, "genbridge.blender.session", raising=False)
    session_module = importlib.import_module("genbridge.blender.session")
    try:
        prefs = {
            "litellm": [{"url": credentialed("http://127.0.0.1:4000")}, {"url": "http://127.0.0.1:4001"}],
            "comfyui": [],
            "wan2gp": [],
            "data_dir": str(tmp_path),
        }
        readers = session_module.PreferenceReaders(settings=lambda _d: prefs, notify=lambda: (True, False))
        session = session_module.Session("genbridge", readers)
        session.sync_settings()
        assert list(session.endpoints) == ["litellm|http://127.0.0.1:4000#1", "litellm|http://127.0.0.1:4001"]
        bad, good = session.endpoints.values()
        assert "holds a user name or password" in bad["problem"]["message"] and "problem" not in good
        assert PASSWORD not in repr((session.endpoints, session.services, session.notice))
        drawn = layout()
        draw_status(drawn, PanelState(endpoints=session.endpoints, services=session.services))
        text = drawn.text()
        assert "LiteLLM endpoint 1 (http://127.0.0.1:4000) holds a user name or password" in text
        assert "put the password (or token) in its Key field" in text and PASSWORD not in text
        # Fixing it by adding a good row for the same server first: both rows keep their own status.
        prefs["litellm"] = [{"url": credentialed("http://127.0.0.1:4000")}, {"url": "http://127.0.0.1:4000"}]
        session.sync_settings()
        assert list(session.endpoints) == ["litellm|http://127.0.0.1:4000#1", "litellm|http://127.0.0.1:4000"]
    finally:
        sys.modules.pop("genbridge.blender.session", None)


# -- keys of 1-3 characters -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["a", "ab", "abc", " ab "])
def test_a_toml_key_shorter_than_4_characters_is_refused_naming_where(tmp_path, capsys, key):
    config = tmp_path / "genbridge.toml"
    config.write_text(f'[[litellm]]\nurl = "http://127.0.0.1:4000"\nkey = "{key}"\n')
    code = main(["--config", str(config), "check"])
    _, err = capsys.readouterr()
    size = len(key.strip())
    assert code == 2 and "Traceback" not in err
    assert f"{config}" in err and "litellm.0" in err
    assert f"is only {size} character" in err and "at least 4" in err and "garble" in err
    assert "Use the whole key, or leave it empty" in err


def test_a_short_key_in_the_environment_is_refused_naming_the_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GENBRIDGE_LITELLM_KEY", "xy")
    code = main(["text", "--url", "http://127.0.0.1:9", "hello"])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert "GENBRIDGE_LITELLM_KEY is only 2 characters long" in err


def test_a_short_key_given_with_a_url_option_is_refused():
    with pytest.raises(ConfigError) as info:
        Endpoint.build("comfyui", "http://127.0.0.1:8188", key="k9", source="--url")
    assert "only 2 characters" in str(info.value) and "--url" in str(info.value)


@pytest.mark.parametrize("key", ["", "   ", "abcd", "sk-0123456789"])
def test_empty_and_long_enough_keys_are_accepted_and_masked(key):
    settings = Settings.from_mapping({"comfyui": [{"url": "http://127.0.0.1:8188", "key": key}]})
    assert len(settings.comfyui) == 1
    if key.strip():
        assert redact(f"got {key}!") == "got ***!"


def test_a_short_key_in_one_preferences_row_turns_off_only_that_row():
    prefs = {
        "comfyui": [
            {"url": "http://127.0.0.1:8188", "key": "abc"},
            {"url": "http://127.0.0.1:8189", "kind": "api_v2", "partner_key": "pk"},
            {"url": "http://127.0.0.1:8190", "key": "abcd"},
        ]
    }
    settings = Settings.from_mapping(prefs, skip_bad_endpoints=True)
    assert [e.url for e in settings.comfyui] == ["http://127.0.0.1:8190"]
    first, second = settings.endpoint_problems
    assert "The Key of ComfyUI endpoint 1 (http://127.0.0.1:8188) is only 3 characters long" in first["message"]
    assert "Key field" in first["hint"]
    assert "The Comfy.org Key of ComfyUI endpoint 2" in second["message"] and "Comfy.org Key field" in second["hint"]


def test_a_short_environment_key_is_shown_on_every_row_of_its_service():
    env = {"GENBRIDGE_WAN2GP_KEY": "q"}
    problem = row_problem("wan2gp", {"url": "http://127.0.0.1:7866/mcp"}, 1, env)
    assert problem is not None and "GENBRIDGE_WAN2GP_KEY is only 1 character long" in problem.message
    assert "unset it" in problem.hint
    assert row_problem("comfyui", {"url": "http://127.0.0.1:8188"}, 1, env) is None


def test_the_preferences_row_says_what_is_wrong_with_its_key_and_url(tmp_path):
    from types import SimpleNamespace

    class Prefs(SimpleNamespace):
        def endpoints(self, service):
            return self.rows.get(service, [])

    def row(url: str, key: str = "") -> SimpleNamespace:
        return SimpleNamespace(url=url, key=key, enabled=True, label="", kind="native", partner_key="")

    prefs = Prefs(rows={"comfyui": [row("http://127.0.0.1:8188", "ab"), row(credentialed("http://127.0.0.1:8189"))]})
    drawn = layout()
    draw_preferences(drawn, prefs, online_access=False, env={})
    text = drawn.text()
    assert "The Key of ComfyUI endpoint 1 (http://127.0.0.1:8188) is only 2 characters long" in text
    assert "ComfyUI endpoint 2 (http://127.0.0.1:8189) holds a user name or password" in text
    assert "put the password (or token) in its Key field" in text and PASSWORD not in text
