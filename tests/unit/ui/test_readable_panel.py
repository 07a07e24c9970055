"""Issue 13.3-13.5 in the draw code: exactly the configured endpoints, no green check for a refused key, long
messages wrapped at the default sidebar width, task titles, one backend line, the logline field."""

from __future__ import annotations

from types import SimpleNamespace

from genbridge.storyboard.draw import draw_storyboard
from genbridge.ui.draw import PanelState, backend_text, draw_job_item, draw_panel, draw_status, job_title
from genbridge.ui.wrap import DEFAULT_CHARS, chars_per_line, wrap

COMFY = "comfyui|http://127.0.0.1:8188"
LITELLM = "litellm|http://127.0.0.1:4000"
ENDPOINTS = {
    COMFY: {"service": "comfyui", "url": "http://127.0.0.1:8188", "label": ""},
    LITELLM: {"service": "litellm", "url": "http://127.0.0.1:4000", "label": "proxy"},
}
HINT = (
    "The text server asked for an API key (it probably needs one). Set the proxy's master key in GenBridge's "
    "preferences, or in the GENBRIDGE_LITELLM_KEY environment variable."
)


def icons_of(layout, text_start: str) -> list[str]:
    return [kw.get("icon") for _a, kw in layout.calls("label") if kw.get("text", "").startswith(text_start)]


def test_a_refused_key_is_an_error_row_not_a_green_check(layout):
    services = {
        COMFY: {"service": "comfyui", "url": "http://127.0.0.1:8188", "reachable": True, "version": "0.3"},
        LITELLM: {
            "service": "litellm",
            "url": "http://127.0.0.1:4000",
            "reachable": True,
            "error": {"code": "auth", "message": "LiteLLM refused the key.", "hint": HINT},
        },
    }
    draw_status(layout, PanelState(endpoints=ENDPOINTS, services=services))
    assert icons_of(layout, "ComfyUI  ") == ["CHECKMARK"]
    assert icons_of(layout, "LiteLLM  ") == ["ERROR"]
    assert HINT in layout.text(), "the whole hint is there, over several lines"


def test_only_configured_endpoints_are_listed_and_unchecked_ones_say_so(layout):
    stale = {"service": "comfyui", "url": "http://127.0.0.1:9999", "reachable": True}
    services = {"comfyui|http://127.0.0.1:9999": stale}
    draw_status(layout, PanelState(endpoints=ENDPOINTS, services=services))
    assert "9999" not in layout.text()
    assert layout.text().count("not checked yet") == 2
    assert "Not checked yet: press Check" in layout.labels()


def test_while_checking_each_row_says_checking(layout):
    draw_status(layout, PanelState(endpoints=ENDPOINTS, checking=True))
    (check,) = [kw for args, kw in layout.calls("operator") if args[0] == "genbridge.check_services"]
    assert check["text"] == "Checking..."
    assert layout.text().count("checking...") == 2


def test_long_messages_wrap_at_the_default_sidebar_width_and_lose_nothing(layout):
    failed = {
        "id": "f-1",
        "task": "shotlist",
        "state": "failed",
        "phase": "Failed: " + HINT,
        "error": {"message": "LiteLLM refused the key.", "hint": HINT},
    }
    draw_panel(layout, PanelState(jobs={"f-1": failed}, active_job_id="f-1", list_owner=1, chars=DEFAULT_CHARS))
    labels = layout.labels()
    assert max(len(text) for text in labels) <= DEFAULT_CHARS
    assert HINT in layout.text()


def test_chars_per_line_follows_the_region_width():
    assert chars_per_line(0) == DEFAULT_CHARS
    narrow, wide = chars_per_line(280), chars_per_line(600)
    assert 30 <= narrow <= 34 < wide
    assert chars_per_line(560, ui_scale=2.0) == narrow, "a larger UI scale fits the same text as a narrower region"
    assert wrap("https://example.invalid/a/very/long/path/without/any/spaces/at/all", 20)[0] == "https://example.inva"


def test_job_rows_show_task_titles_and_a_short_state(layout):
    row = {"id": "abcdef123456", "task": "keyframe", "state": "failed", "phase": "Failed: " + HINT}
    draw_job_item(layout, row)
    assert layout.labels() == ["Keyframe abcdef12"]
    (progress,) = layout.calls("progress")
    assert progress[1]["text"] == "Failed"
    assert job_title({"id": "x", "task": "shotlist", "target": {"name": "Shot List 1a2b"}}) == "Shot List 1a2b"
    keyframe = {"id": "x", "task": "keyframe", "target": {"name": "Shot 01 key T1"}}
    assert job_title(keyframe) == "Keyframe: Shot 01 key T1"
    assert job_title({"id": "1234567890", "task": "quick_preview"}) == "Quick Video Preview 12345678"


def test_the_backend_line_names_the_service_once():
    plan = [{"service": "litellm", "instance": "http://127.0.0.1:4000", "label": "LiteLLM at 127.0.0.1:4000"}]
    job = {"service": "litellm", "instance": "http://127.0.0.1:4000", "plan": plan}
    assert backend_text(job) == "LiteLLM at 127.0.0.1:4000"
    assert backend_text({"service": "comfyui", "plan": [{"service": "comfyui", "label": "box"}]}) == "ComfyUI box"


def test_the_logline_field_has_a_label_and_a_placeholder(layout):
    board = SimpleNamespace(logline="", shot_count=5, status="", shots=[], shotlist_job="")
    draw_storyboard(layout, board, {})
    assert "Logline" in layout.labels()
    (logline,) = [kw for args, kw in layout.calls("prop") if args[1] == "logline"]
    assert logline["placeholder"]
    (button,) = [kw for args, kw in layout.calls("operator") if args[0] == "genbridge.storyboard_from_logline"]
    assert len(button["text"]) <= 12, "a short label; the full name is in the tooltip"


def test_a_running_steps_progress_bar_has_a_line_of_its_own_under_its_state(layout):
    """In the real GUI's sidebar (default width) the state and the bar side by side were cut to "Keyframe:
    submitte..." and "Sending t...": the bar now sits under the state line, at the full width."""
    take = SimpleNamespace(
        number=1,
        keyframe_job="k",
        clip_job="c",
        keyframe_state="running",
        clip_state="queued",
        keyframe_service="comfyui",
        clip_service="wan2gp",
        keyframe_references="",
    )
    shot = SimpleNamespace(description="Pier", duration=3.0, camera="", takes=[take], chosen=0)
    board = SimpleNamespace(logline="x", shot_count=1, status="", shots=[shot], shotlist_job="")
    jobs = {"k": {"state": "running", "service": "comfyui", "progress": 0.4, "phase": "Sampling 4/10"}}
    draw_storyboard(layout, board, jobs)
    names = [(name, kw.get("text")) for name, _args, kw in layout.log if name in ("label", "row", "progress")]
    at = names.index(("label", "Keyframe: running (ComfyUI)"))
    assert names[at - 1][0] != "row" and names[at + 1] == ("progress", "Sampling 4/10")
    assert ("label", "Clip: waits for its keyframe") in names
