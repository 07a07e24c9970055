"""Service names, titles, default URLs and key variables: stdlib only, so Blender's UI can use them for free."""

from __future__ import annotations

SERVICES: tuple[str, ...] = ("comfyui", "wan2gp", "litellm")
SERVICE_TITLES = {"comfyui": "ComfyUI", "wan2gp": "WanGP", "litellm": "LiteLLM"}
DEFAULT_URLS = {
    "comfyui": "http://127.0.0.1:8188",
    "wan2gp": "http://127.0.0.1:7866/mcp",
    "litellm": "http://127.0.0.1:4000",
}


def key_env_var(service: str) -> str:
    """The environment variable that overrides the key of every endpoint of `service`."""
    return f"GENBRIDGE_{service.upper()}_KEY"
