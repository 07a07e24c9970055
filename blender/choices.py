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
IMAGE_SOURCES = [
    ("NONE", "None", "No image input"),
    ("FILE", "File", "An image file on disk"),
    ("CAMERA", "Camera Render", "Render the active camera with the scene's engine at the job's size"),
    ("PREVIEW", "Camera Preview", "Render the active camera with Workbench (fast) at the job's size"),
    ("DEPTH", "Depth", "Depth pass of the camera view, near = white (for depth ControlNets)"),
    ("NORMAL", "Normal", "Camera-space normal pass of the camera view"),
    ("MIST", "Mist", "Mist pass of the camera view (world mist settings)"),
    ("MASK", "Object Mask", "White where the selected objects are seen from the camera (for inpainting)"),
    ("IMAGE_EDITOR", "Image Editor", "The image shown in the Image Editor (Render Result and painted textures too)"),
    ("SEQUENCER", "Sequencer Frame", "The Sequencer's composited frame under the playhead"),
]
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
    "image_source",
    "image_param",
    "image_path",
    "image_name",
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
