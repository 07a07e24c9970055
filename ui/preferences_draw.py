"""The preferences layout: endpoints per service, keys, output folder, VRAM and timeouts."""

from __future__ import annotations

from typing import Any

from ..runtime.services import DEFAULT_URLS, SERVICE_TITLES, SERVICES, key_env_var


def draw_preferences(layout: Any, prefs: Any, *, online_access: bool, env: dict[str, str] | None = None) -> None:
    import os

    env = os.environ if env is None else env
    if not online_access:
        layout.label(text="Online access is off: only services on this computer (127.0.0.1) can be used.", icon="INFO")
    for service in SERVICES:
        box = layout.box()
        box.label(text=SERVICE_TITLES[service], icon="WORLD")
        rows = list(prefs.endpoints(service))
        if not rows:
            box.label(text=f"Default: {DEFAULT_URLS[service]}")
        for ep in rows:
            row = box.row(align=True)
            row.prop(ep, "enabled", text="")
            row.prop(ep, "label", text="")
            row.prop(ep, "url", text="")
            row.prop(ep, "key", text="")
        if env.get(key_env_var(service)):
            box.label(text=f"The key comes from the environment variable {key_env_var(service)}", icon="LOCKED")
    layout.prop(prefs, "output_dir")
    layout.prop(prefs, "vram_override_gb")
    layout.prop(prefs, "wan2gp_profile")
    layout.prop(prefs, "text_model")
    row = layout.row()
    row.prop(prefs, "connect_timeout")
    row.prop(prefs, "request_timeout")
    layout.prop(prefs, "download_limit_mb")
