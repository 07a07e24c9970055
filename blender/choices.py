"""Choices shown in the generate section and sent by the Generate operator (stdlib only, shared by both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..runtime.services import SERVICE_TITLES
from ..runtime.services import SERVICES as SERVICE_IDS

TASKS = [
    ("image", "Image", "A still image (ComfyUI)"),
    ("character_image", "Character Image", "An image that keeps a character from a reference (ComfyUI)"),
    ("quick_preview", "Quick Video Preview", "A fast, light video preview (WanGP, or ComfyUI)"),
    ("final_video", "Final Video", "A full-quality video (ComfyUI, or WanGP)"),
    ("upscale", "Upscale", "Upscale an image (ComfyUI)"),
    ("text", "Text", "Text from a prompt (LiteLLM)"),
]
# The service ids and titles come from `runtime.services` (stdlib only), so a new service needs no edit here.
SERVICES = [("AUTO", "Auto", "Let GenBridge pick the service from the task, free VRAM and load")] + [
    (service, SERVICE_TITLES[service], f"Only use {SERVICE_TITLES[service]}") for service in SERVICE_IDS
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
    # Last: an enum's saved value is its position, so a new source never shifts the ones in saved .blend files.
    ("VIEWPORT", "Viewport", "The 3D View you are looking at, as you see it (its shading and view, no overlays)"),
]

# Sources that render the scene through a camera (a template row may name the camera) and those made at a frame.
CAMERA_SOURCES = frozenset({"CAMERA", "PREVIEW", "DEPTH", "NORMAL", "MIST", "MASK"})
FRAME_SOURCES = CAMERA_SOURCES | {"VIEWPORT", "SEQUENCER"}
# Which frame a scene capture renders (a template row's `image_frame`); NUMBER takes the row's `image_frame_number`.
IMAGE_FRAMES = [
    ("CURRENT", "Current Frame", "The frame under the playhead"),
    ("START", "Scene Start", "The scene's first frame (Output Properties > Frame Range)"),
    ("END", "Scene End", "The scene's last frame (Output Properties > Frame Range)"),
    ("NUMBER", "Frame Number", "The frame number given beside it"),
]


@dataclass(frozen=True)
class GenerateField:
    """One generate setting: a Scene property the panel shows and an operator property scripts may give.

    Both are built from `GENERATE` (by `blender.generate_props`), so the name, default and limits are written once.
    The names are saved in .blend files (Scene settings) and used by scripts (operator arguments): never rename one.
    """

    name: str
    kind: Literal["enum", "int", "string"]
    label: str
    description: str = ""
    default: str | int | None = None  # None: Blender's default for the kind ("" or 0)
    items: list[tuple[str, str, str]] | None = None  # enum only
    min: int | None = None
    max: int | None = None
    step: int | None = None
    subtype: str | None = None  # "PIXEL", "FILE_PATH"


# What the Generate button sends, in panel order (the operator's redo panel shows them in this order too).
GENERATE = (
    GenerateField("task", "enum", "Task", "What to generate", default="image", items=TASKS),
    GenerateField("prompt", "string", "Prompt", "What you want to see (or read, for text tasks)"),
    GenerateField("negative_prompt", "string", "Negative Prompt", "What you do not want to see"),
    GenerateField("template", "string", "Template", "Workflow template (empty: the task's default)"),
    GenerateField("width", "int", "Width", default=832, min=64, max=8192, step=16, subtype="PIXEL"),
    GenerateField("height", "int", "Height", default=480, min=64, max=8192, step=16, subtype="PIXEL"),
    GenerateField("frames", "int", "Frames", "Video length in frames", default=33, min=1, max=1025),
    GenerateField("steps", "int", "Steps", "Sampling steps", default=20, min=1, max=200),
    GenerateField("seed", "int", "Seed", "-1 picks a random seed (recorded with the job)", default=-1, min=-1),
    GenerateField("service", "enum", "Service", "Which service runs the job", default="AUTO", items=SERVICES),
    GenerateField("result_name", "string", "Result Name", "Name of the image, strip or text block"),
    # The image input (a template's `type = "image"` parameter), from a file or captured from the scene.
    GenerateField(
        "image_source", "enum", "Image Source", "Where the template's image comes from", "NONE", IMAGE_SOURCES
    ),
    GenerateField("image_param", "string", "Image Parameter", "The template's image parameter it feeds", "image"),
    GenerateField("image_path", "string", "Image File", "Used when the source is File", subtype="FILE_PATH"),
    GenerateField("image_name", "string", "Image", "Image Editor source: the image (empty: the one shown)"),
)
GENERATE_FIELDS = tuple(field.name for field in GENERATE)
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
