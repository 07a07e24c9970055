"""The preferences layout: endpoints per service (add, remove, Test with its cached answer), keys, output
folder, VRAM, timeouts, notifications, and the online-access state. Pure: tests call it with a fake layout."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..blender.probes import endpoint_key
from ..runtime.endpoint_rows import row_problem
from ..runtime.errors import ConfigError
from ..runtime.netpolicy import is_loopback
from ..runtime.services import DEFAULT_URLS, SERVICE_TITLES, SERVICES, key_env_var
from .wrap import DEFAULT_CHARS, chars_per_line, draw_wrapped

ONLINE_OFF = "Online access is off: only servers on this computer (127.0.0.1, localhost) can be used."
ONLINE_HOW = "To use a server on another computer: Preferences > System > Network > Allow Online Access."


def url_problem(url: str, online_access: bool) -> str:
    """Why this URL will be refused, in the user's words ("" when it is fine)."""
    try:
        remote = not is_loopback(url)
    except ConfigError as exc:
        return exc.message
    if remote and not online_access:
        return "Refused: this server is on another computer and Online Access is off."
    return ""


def endpoint_row(ep: Any) -> dict[str, Any]:
    """The fields of a preferences row that decide whether it can be used (keys only to measure them)."""
    return {
        "url": ep.url,
        "key": ep.key,
        "partner_key": getattr(ep, "partner_key", ""),
        "kind": getattr(ep, "kind", "native"),
    }


def draw_test_result(layout: Any, result: dict[str, Any] | None, chars: int = DEFAULT_CHARS) -> None:
    """The last Test answer for one endpoint, from the cache (the probe itself ran on the loop thread)."""
    if not result:
        return
    if result.get("checking"):
        layout.label(text="Testing...", icon="SORTTIME")
        return
    error = result.get("error") or {}
    if result.get("reachable") and not error:
        free = result.get("vram_free_gb")
        vram = f", {free:.1f} GB free" if free is not None else ""
        layout.label(text=f"OK: {result.get('version') or 'version ?'}{vram}", icon="CHECKMARK")
        return
    draw_wrapped(layout, error.get("message") or "Not reachable", chars, "ERROR")
    if error.get("hint"):
        draw_wrapped(layout, error["hint"], chars, "INFO")


def draw_endpoints(
    layout: Any,
    prefs: Any,
    service: str,
    *,
    online_access: bool,
    env: Mapping[str, str],
    tests: Mapping[str, Any],
    chars: int = DEFAULT_CHARS,
) -> None:
    box = layout.box()
    head = box.row()
    head.label(text=SERVICE_TITLES[service], icon="NETWORK_DRIVE")
    head.operator("genbridge.endpoint_add", text="", icon="ADD").service = service
    rows = list(prefs.endpoints(service))
    key_from_env = bool(env.get(key_env_var(service)))
    if not rows:
        line = box.row()
        line.label(text=f"Default: {DEFAULT_URLS[service]}")
        test = line.operator("genbridge.endpoint_test", text="Test", icon="FILE_REFRESH")
        test.service, test.index = service, -1
        draw_test_result(box, tests.get(endpoint_key(service, DEFAULT_URLS[service])), chars)
    for index, ep in enumerate(rows):
        col = box.column(align=True)
        row = col.row(align=True)
        row.prop(ep, "enabled", text="")
        row.prop(ep, "label", text="", placeholder="Label")
        row.prop(ep, "url", text="")
        test = row.operator("genbridge.endpoint_test", text="Test", icon="FILE_REFRESH")
        test.service, test.index = service, index
        remove = row.operator("genbridge.endpoint_remove", text="", icon="X")
        remove.service, remove.index = service, index
        key_row = col.row(align=True)
        key_row.active = not key_from_env
        key_row.prop(ep, "key", text="Key")
        if service == "comfyui" and hasattr(ep, "kind"):
            kind_row = col.row(align=True)
            kind_row.prop(ep, "kind", text="Protocol")
            if ep.kind == "api_v2":
                kind_row.prop(ep, "partner_key", text="Comfy.org Key")
        problem = url_problem(ep.url, online_access) if ep.url.strip() else "Enter the server's URL."
        unusable = row_problem(service, endpoint_row(ep), index + 1, env) if ep.url.strip() else None
        if unusable is not None:  # the same words as the status box: what, where, how to fix
            draw_wrapped(col, unusable.message, chars, "ERROR")
            draw_wrapped(col, unusable.hint, chars, "INFO")
        elif problem:
            draw_wrapped(col, problem, chars, "ERROR")
        draw_test_result(col, tests.get(endpoint_key(service, ep.url)), chars)
    if key_from_env:
        box.label(text=f"The environment variable {key_env_var(service)} overrides these keys", icon="LOCKED")


def draw_preferences(
    layout: Any,
    prefs: Any,
    *,
    online_access: bool,
    env: Mapping[str, str] | None = None,
    tests: Mapping[str, Any] | None = None,
    width: float = 0,
) -> None:
    env = os.environ if env is None else env
    tests = tests or {}
    chars = chars_per_line(width) if width else 90  # the preferences window is wide
    if online_access:
        layout.label(text="Online access is on: servers on other computers may be used.", icon="WORLD")
    else:
        col = layout.column(align=True)
        col.label(text=ONLINE_OFF, icon="INFO")
        col.label(text=ONLINE_HOW, icon="BLANK1")
    for service in SERVICES:
        draw_endpoints(layout, prefs, service, online_access=online_access, env=env, tests=tests, chars=chars)
    box = layout.box()
    box.label(text="Output and Resources", icon="FILE_FOLDER")
    box.prop(prefs, "output_dir")
    box.prop(prefs, "template_dirs")
    box.prop(prefs, "vram_override_gb")
    box.prop(prefs, "wan2gp_profile")
    box.prop(prefs, "text_model")
    box.prop(prefs, "download_limit_mb")
    box = layout.box()
    box.label(text="Timeouts", icon="TIME")
    row = box.row()
    row.prop(prefs, "connect_timeout")
    row.prop(prefs, "request_timeout")
    row = box.row()
    row.prop(prefs, "silence_timeout")
    row.prop(prefs, "download_timeout")
    box = layout.box()
    box.label(text="Notifications", icon="INFO")
    row = box.row()
    row.prop(prefs, "notify_on_finish")
    row.prop(prefs, "notify_sound")
