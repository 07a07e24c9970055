"""ComfyUI backend: one async client per server, one shared websocket, streamed downloads."""

from .client import ComfyUIClient

__all__ = ["ComfyUIClient"]
