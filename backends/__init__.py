"""Backend clients, one module (or package) per service, loaded on first use on the loop thread.

Imports here are relative and lazy: in Blender this package is `bl_ext.<repo>.genbridge.backends`, and
aiohttp/websockets must not be imported on the main thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runtime.backend import BackendClient
    from ..runtime.settings import Endpoint, Settings

# service -> (module relative to this package, class name). Text jobs run through `workflows.text.jobs`, which
# prepares film prompts and reads shot lists and drives the transport-only `litellm.LiteLLMClient`.
CLIENTS: dict[str, tuple[str, str]] = {
    "comfyui": (".comfyui", "ComfyUIClient"),
    "wan2gp": (".wan2gp", "Wan2GPClient"),
    "litellm": ("..workflows.text.jobs", "TextJobClient"),
}
# (service, endpoint kind) -> client, for services with more than one protocol
KIND_CLIENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("comfyui", "api_v2"): (".comfyui_v2", "ComfyAPIv2Client"),
}


def client_class(service: str) -> type:
    """The client class of `service` (imports its module)."""
    try:
        module_name, class_name = CLIENTS[service]
    except KeyError:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(CLIENTS)}") from None
    module = importlib.import_module(module_name, __package__)
    return getattr(module, class_name)


def make_client(endpoint: Endpoint, settings: Settings) -> BackendClient:
    """A client bound to `endpoint` (by its service and kind); the online-access rule is checked by the client on
    first request."""
    kind = KIND_CLIENTS.get((endpoint.service, endpoint.kind))
    if kind is not None:
        module = importlib.import_module(kind[0], __package__)
        return getattr(module, kind[1])(endpoint, settings)  # type: ignore[no-any-return]
    return client_class(endpoint.service)(endpoint, settings)
