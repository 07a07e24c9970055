"""The preferences page drawn with a recording layout: endpoints, Test results, keys, online access."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.ui.preferences_draw import draw_preferences


class Prefs(SimpleNamespace):
    def endpoints(self, service):
        return self.rows.get(service, [])


def endpoint(url: str, key: str = "") -> SimpleNamespace:
    return SimpleNamespace(url=url, key=key, enabled=True, label="")


def test_every_service_has_add_and_a_test_for_its_default_url(layout):
    draw_preferences(layout, Prefs(rows={}), online_access=False, env={})
    assert [p.service for p in layout.operator_props("genbridge.endpoint_add")] == ["comfyui", "wan2gp", "litellm"]
    tests = layout.operator_props("genbridge.endpoint_test")
    assert [(t.service, t.index) for t in tests] == [("comfyui", -1), ("wan2gp", -1), ("litellm", -1)]
    assert "Default: http://127.0.0.1:8188" in layout.labels()


def test_endpoint_rows_have_url_key_test_and_remove_with_the_cached_answer(layout):
    prefs = Prefs(rows={"comfyui": [endpoint("http://127.0.0.1:8188"), endpoint("http://127.0.0.1:8189")]})
    tests = {
        "comfyui|http://127.0.0.1:8188": {"reachable": True, "version": "0.3.64", "vram_free_gb": 7.0},
        "comfyui|http://127.0.0.1:8189": {"checking": True},
    }
    draw_preferences(layout, prefs, online_access=False, env={}, tests=tests)
    assert layout.props().count("url") == 2 and layout.props().count("key") == 2
    removes = layout.operator_props("genbridge.endpoint_remove")
    assert [(r.service, r.index) for r in removes] == [("comfyui", 0), ("comfyui", 1)]
    assert "OK: 0.3.64, 7.0 GB free" in layout.labels()
    assert "Testing..." in layout.labels()


def test_remote_host_is_explained_while_online_access_is_off(layout):
    prefs = Prefs(rows={"litellm": [endpoint("http://gpu-box.example:4000")]})
    draw_preferences(layout, prefs, online_access=False, env={})
    labels = layout.labels()
    assert "Refused: this server is on another computer and Online Access is off." in labels
    assert any("Allow Online Access" in text for text in labels)
    allowed = type(layout)()
    draw_preferences(allowed, prefs, online_access=True, env={})
    assert not any(text.startswith("Refused") for text in allowed.labels())


def test_refused_test_result_shows_the_core_error_and_hint(layout):
    prefs = Prefs(rows={"litellm": [endpoint("http://gpu-box.example:4000")]})
    tests = {
        "litellm|http://gpu-box.example:4000": {
            "reachable": False,
            "error": {"code": "online_access", "message": "LiteLLM is set to a remote host.", "hint": "Turn on X."},
        }
    }
    draw_preferences(layout, prefs, online_access=False, env={}, tests=tests)
    assert "LiteLLM is set to a remote host." in layout.labels() and "Turn on X." in layout.labels()


def test_key_fields_note_an_environment_override(layout):
    prefs = Prefs(rows={"litellm": [endpoint("http://127.0.0.1:4000", key="sk-secret")]})
    draw_preferences(layout, prefs, online_access=False, env={"GENBRIDGE_LITELLM_KEY": "x"})
    assert "The environment variable GENBRIDGE_LITELLM_KEY overrides these keys" in layout.labels()
    assert ("set:active", (False,), {}) in layout.log
    assert all("sk-secret" not in text for text in layout.labels())


def test_invalid_url_is_named(layout):
    prefs = Prefs(rows={"comfyui": [endpoint("localhost:8188")]})
    draw_preferences(layout, prefs, online_access=False, env={})
    assert any("not a service URL" in text for text in layout.labels())


def test_timeouts_output_vram_and_notifications_are_drawn(layout):
    draw_preferences(layout, Prefs(rows={}), online_access=True, env={})
    for name in (
        "output_dir",
        "template_dirs",
        "vram_override_gb",
        "connect_timeout",
        "request_timeout",
        "silence_timeout",
        "download_timeout",
        "notify_on_finish",
        "notify_sound",
    ):
        assert name in layout.props()


def test_a_comfyui_row_offers_the_protocol_and_a_v2_row_its_partner_key(layout):
    native = SimpleNamespace(url="http://127.0.0.1:8188", key="", enabled=True, label="", kind="native", partner_key="")
    v2 = SimpleNamespace(url="http://127.0.0.1:8189", key="", enabled=True, label="", kind="api_v2", partner_key="")
    draw_preferences(layout, Prefs(rows={"comfyui": [native, v2]}), online_access=False, env={})
    assert layout.props().count("kind") == 2 and layout.props().count("partner_key") == 1
