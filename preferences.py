"""GenBridge add-on preferences: service endpoints, output folder, VRAM override, timeouts.

Keys are PASSWORD properties in the user preferences (userpref.blend), never in .blend files; an environment
variable (GENBRIDGE_<SERVICE>_KEY) overrides them. `snapshot()` turns the preferences into plain data on the
main thread; the loop thread validates that data into `runtime.settings.Settings`. The session reads the
preferences only through `READERS` (passed to it at enable), so `blender` never imports this module; editing an
endpoint calls `blender.preferences_changed()`, so the next request and check use the edit.
"""

from __future__ import annotations

import os
from typing import Any

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences, PropertyGroup

from . import blender
from .blender.session import PreferenceReaders
from .runtime.services import DEFAULT_URLS, SERVICE_TITLES, SERVICES, key_env_var

ADDON_ID = __package__


def _endpoint_changed(_self: Any, _context: Any) -> None:
    blender.preferences_changed()


class GENBRIDGE_PG_endpoint(PropertyGroup):
    """One server of one service."""

    url: StringProperty(
        name="URL", description="Base URL of the service, e.g. http://127.0.0.1:8188", update=_endpoint_changed
    )
    key: StringProperty(
        name="Key",
        description="API key or bearer token (optional)",
        subtype="PASSWORD",
        update=_endpoint_changed,
    )
    enabled: BoolProperty(name="Enabled", default=True, update=_endpoint_changed)
    label: StringProperty(
        name="Label", description="A short name shown in plans and the job list", update=_endpoint_changed
    )
    # ComfyUI only: which protocol the URL speaks, and the Comfy.org key partner nodes use over the Comfy API v2.
    kind: EnumProperty(
        name="Protocol",
        items=[
            ("native", "ComfyUI", "ComfyUI's own HTTP and websocket API (a ComfyUI server)"),
            (
                "api_v2",
                "Comfy API v2",
                "The Comfy API v2: Comfy Cloud (URL https://cloud.comfy.org, remote and paid: needs online access "
                "and a key) or comfy-api-proxy in front of a ComfyUI. The routing policy's api_v2_use decides when "
                "jobs go there",
            ),
        ],
        default="native",
        update=_endpoint_changed,
    )
    partner_key: StringProperty(
        name="Comfy.org Key",
        description="Comfy.org API key for partner (API) nodes, sent with each job only (optional)",
        subtype="PASSWORD",
        update=_endpoint_changed,
    )


class GENBRIDGE_AP_preferences(AddonPreferences):
    bl_idname = ADDON_ID

    comfyui_endpoints: CollectionProperty(type=GENBRIDGE_PG_endpoint)
    wan2gp_endpoints: CollectionProperty(type=GENBRIDGE_PG_endpoint)
    litellm_endpoints: CollectionProperty(type=GENBRIDGE_PG_endpoint)
    output_dir: StringProperty(
        name="Output Folder",
        subtype="DIR_PATH",
        description="Where generated files are saved (empty: the extension's user folder)",
    )
    template_dirs: StringProperty(
        name="Template Folders",
        description="Folders with your own workflow templates (<name>.json + <name>.params.toml), separated by ';'",
    )
    vram_override_gb: FloatProperty(
        name="VRAM Override (GB)",
        min=0.0,
        soft_max=96.0,
        default=0.0,
        description="Free VRAM to assume when a server cannot report it (0: use what servers report)",
    )
    wan2gp_profile: IntProperty(
        name="WanGP Memory Profile",
        min=1,
        max=5,
        default=4,
        description="The --profile your WanGP server was started with (1 to 5)",
    )
    text_model: StringProperty(name="Text Model", description="LiteLLM model name (empty: the first one offered)")
    connect_timeout: FloatProperty(name="Connect Timeout (s)", min=0.5, max=120.0, default=5.0)
    request_timeout: FloatProperty(name="Request Timeout (s)", min=1.0, max=600.0, default=30.0)
    silence_timeout: FloatProperty(
        name="Silence Timeout (s)",
        min=5.0,
        max=3600.0,
        default=60.0,
        description="How long a running job may stay without any news before GenBridge checks on it",
    )
    download_timeout: FloatProperty(name="Download Timeout (s)", min=5.0, max=7200.0, default=600.0)
    download_limit_mb: IntProperty(name="Download Limit (MB)", min=1, default=4096)
    notify_on_finish: BoolProperty(
        name="Report Finished Jobs",
        default=True,
        description="Show a status bar message when a job finishes (failures are always reported)",
    )
    notify_sound: BoolProperty(
        name="Play a Sound",
        default=False,
        description="Play a short sound when a job finishes",
    )

    def endpoints(self, service: str) -> Any:
        return getattr(self, f"{service}_endpoints")

    def draw(self, context: Any) -> None:
        from .ui.draw import draw_dependency_problems
        from .ui.preferences_draw import draw_preferences

        session = blender.current()
        width = context.region.width if context.region is not None else 0
        if session is not None:
            draw_dependency_problems(self.layout, session.dependency_problems, width=width)
        draw_preferences(
            self.layout,
            self,
            online_access=bpy.app.online_access,
            tests=session.endpoint_tests if session is not None else {},
            width=width,
        )


def get(context: Any = None) -> GENBRIDGE_AP_preferences | None:
    """The preferences of this add-on, or None when it is not enabled."""
    user_prefs = (context or bpy.context).preferences
    addon = user_prefs.addons.get(ADDON_ID) if user_prefs is not None else None
    return addon.preferences if addon else None  # type: ignore[return-value]


def endpoint_rows(prefs: Any, service: str) -> list[dict[str, Any]]:
    """Plain rows for one service; an empty list means the service's default local URL."""
    rows = [
        {"url": ep.url, "key": ep.key or None, "enabled": ep.enabled, "label": ep.label}
        | ({"kind": ep.kind, "partner_key": ep.partner_key or None} if service == "comfyui" else {})
        for ep in prefs.endpoints(service)
        if ep.url.strip()
    ]
    return rows or [{"url": DEFAULT_URLS[service]}]


def snapshot(data_dir: str = "") -> dict[str, Any]:
    """The preferences as plain data (main thread only), ready for `Settings.from_mapping`."""
    prefs = get()
    data: dict[str, Any] = {"allow_online": bool(bpy.app.online_access), "data_dir": data_dir}
    if prefs is None:
        return data
    for service in SERVICES:
        data[service] = endpoint_rows(prefs, service)
    if prefs.output_dir:
        data["output_dir"] = bpy.path.abspath(prefs.output_dir)
    folders = [part.strip() for part in prefs.template_dirs.split(";") if part.strip()]
    if folders:
        data["template_dirs"] = [bpy.path.abspath(folder) for folder in folders]
    if prefs.vram_override_gb > 0:
        data["vram_override_gb"] = prefs.vram_override_gb
    data["wan2gp_profile"] = prefs.wan2gp_profile
    data["text_model"] = prefs.text_model
    data["download_limit_mb"] = prefs.download_limit_mb
    data["timeouts"] = {
        "connect": prefs.connect_timeout,
        "request": prefs.request_timeout,
        "silence": prefs.silence_timeout,
        "download": prefs.download_timeout,
    }
    return data


def key_overridden(service: str) -> bool:
    """True when an environment variable supplies the key (the UI says so next to the field)."""
    return bool(os.environ.get(key_env_var(service)))


def notify_options() -> tuple[bool, bool]:
    """(report finished jobs, play a sound); failures are always reported."""
    prefs = get()
    if prefs is None:
        return True, False
    return bool(prefs.notify_on_finish), bool(prefs.notify_sound)


READERS = PreferenceReaders(settings=snapshot, notify=notify_options)
CLASSES = (GENBRIDGE_PG_endpoint, GENBRIDGE_AP_preferences)
TITLES = SERVICE_TITLES
