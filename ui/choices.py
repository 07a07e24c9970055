"""Choices shown in the generate section and the Generate operator (stdlib only, shared by both)."""

from __future__ import annotations

TASKS = [
    ("image", "Image", "A still image (ComfyUI)"),
    ("character_image", "Character Image", "An image that keeps a character from a reference (ComfyUI)"),
    ("quick_preview", "Quick Video Preview", "A fast, light video preview (Wan2GP, or ComfyUI)"),
    ("final_video", "Final Video", "A full-quality video (ComfyUI, or Wan2GP)"),
    ("upscale", "Upscale", "Upscale an image (ComfyUI)"),
    ("text", "Text", "Text from a prompt (LiteLLM)"),
]
SERVICES = [
    ("AUTO", "Auto", "Let GenBridge pick the service from the task, free VRAM and load"),
    ("comfyui", "ComfyUI", "Only use ComfyUI"),
    ("wan2gp", "Wan2GP", "Only use Wan2GP"),
    ("litellm", "LiteLLM", "Only use LiteLLM"),
]
VIDEO_TASKS = frozenset({"quick_preview", "final_video", "video"})
TEXT_TASKS = frozenset({"text", "shotlist", "prompt"})
GENERATE_FIELDS = (
    "task",
    "prompt",
    "negative_prompt",
    "template",
    "width",
    "height",
    "frames",
    "steps",
    "seed",
    "service",
    "result_name",
)
