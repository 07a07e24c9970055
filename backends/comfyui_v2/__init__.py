"""ComfyUI through the Comfy API v2 (`/api/v2/...`): Comfy Cloud, or `comfy-api-proxy` in front of any ComfyUI."""

from .client import ComfyAPIv2Client

__all__ = ["ComfyAPIv2Client"]
