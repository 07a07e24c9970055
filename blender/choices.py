"""Choices shown in the generate section and sent by the Generate operator (stdlib only, shared by both)."""

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
# Titles for every task a job can carry, also those only the storyboard sends (the job list shows titles, not ids).
TASK_TITLES = {
    **{key: title for key, title, _ in TASKS},
    "keyframe": "Keyframe",
    "shotlist": "Shot List",
    "prompt": "Prompt",
    "video": "Video",
}


def task_title(task: str) -> str:
    """The title of a task id ("shotlist" -> "Shot List"); unknown ids read as words ("my_task" -> "My Task")."""
    return TASK_TITLES.get(task) or task.replace("_", " ").title() or "Job"
