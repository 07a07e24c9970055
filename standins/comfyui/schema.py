"""The node schemas the stand-in serves and validates against: the real `/object_info` of ComfyUI 0.3.64.

`object_info_full.json` holds all 478 node classes of the captured server, which had no model files: every
model-file combo (`ckpt_name`, `lora_name`, ...) is empty there. `build_object_info(version, models)` returns a
private copy with the model lists a test configured filled in (a server *with* those files), and, in 0.38 mode,
the schema changes of `protocols/comfyui-0.38.md` (dynamic SaveVideo `format`, `has_intermediate_output`).
Pure data; no I/O besides reading the capture once.
"""

from __future__ import annotations

import copy
from typing import Any

from ..fixtures import load_fixture

V0364 = "0.3.64"
V038 = "0.38.1"
VERSIONS = {"0.3.64": V0364, "0.38": V038, "0.38.1": V038}

# Which model folder a loader's combo lists (ComfyUI's folder_paths names): the server fills these combos
# from its model folders, so with no models they are empty and every value is "not in list".
MODEL_COMBOS: dict[str, tuple[tuple[str, str], ...]] = {
    "checkpoints": (
        ("CheckpointLoaderSimple", "ckpt_name"),
        ("CheckpointLoader", "ckpt_name"),
        ("ImageOnlyCheckpointLoader", "ckpt_name"),
        ("unCLIPCheckpointLoader", "ckpt_name"),
        ("CreateHookModelAsLora", "ckpt_name"),
        ("CreateHookModelAsLoraModelOnly", "ckpt_name"),
    ),
    "loras": (
        ("LoraLoader", "lora_name"),
        ("LoraLoaderModelOnly", "lora_name"),
        ("CreateHookLora", "lora_name"),
        ("CreateHookLoraModelOnly", "lora_name"),
    ),
    "vae": (("VAELoader", "vae_name"),),
    "diffusion_models": (("UNETLoader", "unet_name"),),
    "text_encoders": (
        ("CLIPLoader", "clip_name"),
        ("DualCLIPLoader", "clip_name1"),
        ("DualCLIPLoader", "clip_name2"),
        *(("TripleCLIPLoader", f"clip_name{i}") for i in (1, 2, 3)),
        *(("QuadrupleCLIPLoader", f"clip_name{i}") for i in (1, 2, 3, 4)),
    ),
    "clip_vision": (("CLIPVisionLoader", "clip_name"),),
    "upscale_models": (("UpscaleModelLoader", "model_name"),),
    "controlnet": (("ControlNetLoader", "control_net_name"), ("DiffControlNetLoader", "control_net_name")),
    "style_models": (("StyleModelLoader", "style_model_name"),),
    "gligen": (("GLIGENLoader", "gligen_name"),),
    "hypernetworks": (("HypernetworkLoader", "hypernetwork_name"),),
    "photomaker": (("PhotoMakerLoader", "photomaker_model_name"),),
    "model_patches": (("ModelPatchLoader", "name"),),
    "diffusers": (("DiffusersLoader", "model_path"),),
}
MODEL_FOLDERS = [
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models",
    "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models", "custom_nodes",
    "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders",
]  # fmt: skip

# Nodes whose own validate function replaces the combo check of an input (ComfyUI skips list/min/max checks
# for inputs the function takes) and what it answers for a file that does not exist.
CUSTOM_FILE_CHECKS: dict[str, tuple[str, str]] = {
    "LoadImage": ("image", "Invalid image file: {}"),
    "LoadImageMask": ("image", "Invalid image file: {}"),
    "LoadImageOutput": ("image", "Invalid image file: {}"),
    "LoadVideo": ("file", "Invalid video file: {}"),
    "LoadLatent": ("latent", "Invalid latent file: {}"),
    "LoadAudio": ("audio", "Invalid audio file: {}"),
}
# Input types that are widget values (converted and range-checked); any other type must arrive through a link.
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
# 0.38: nodes that emit `executed` with a preview of their input even though they are not output nodes.
INTERMEDIATE_OUTPUT = {"LoadVideo", "VideoTrim", "VideoCrop"}


def full_object_info() -> dict[str, Any]:
    """A private deep copy of the captured 478-class `/object_info`."""
    return copy.deepcopy(load_fixture("comfyui", "object_info_full.json"))


def models_for(graphs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The model lists a server needs to run `graphs` (for demos that pretend the models are installed)."""
    where = {pair: folder for folder, pairs in MODEL_COMBOS.items() for pair in pairs}
    out: dict[str, list[str]] = {}
    for graph in graphs:
        for node in graph.values():
            for name, value in (node.get("inputs") or {}).items():
                folder = where.get((node.get("class_type", ""), name))
                if folder and isinstance(value, str) and value not in out.setdefault(folder, []):
                    out[folder].append(value)
    return out


def _set_options(spec: list[Any], options: list[str]) -> None:
    if isinstance(spec[0], list):  # V1 combo: [[options], {...}]
        spec[0] = options
    else:  # V3 combo: ["COMBO", {"options": [...]}]
        spec[1]["options"] = options


def build_object_info(version: str, models: dict[str, list[str]] | None) -> dict[str, Any]:
    """The schema a server of `version` with `models` installed reports."""
    info = full_object_info()
    for folder, pairs in MODEL_COMBOS.items():
        files = sorted((models or {}).get(folder, []))
        for cls, name in pairs:
            spec = info.get(cls, {}).get("input", {}).get("required", {}).get(name)
            if spec is not None:
                base = ["pixel_space"] if cls == "VAELoader" else []  # VAELoader always offers pixel_space
                _set_options(spec, files + base)
    if version == V038:
        _apply_038(info)
    return info


def set_file_options(info: dict[str, Any], cls: str, name: str, files: list[str]) -> dict[str, Any]:
    """A copy of one class entry whose file combo lists `files` (LoadImage lists the input folder)."""
    entry = copy.deepcopy(info[cls])
    _set_options(entry["input"]["required"][name], files)
    return entry


def _codec_combo(options: list[str]) -> list[Any]:
    crf = ["INT", {"default": 23, "min": 0, "max": 63, "step": 1, "tooltip": "Constant rate factor."}]
    keyed = [{"key": opt, "inputs": {"optional": {"crf": crf}} if opt != "auto" else {}} for opt in options]
    return [DYNAMIC_COMBO, {"options": keyed, "tooltip": "The codec to use for the video."}]


def _apply_038(info: dict[str, Any]) -> None:
    """Schema changes 0.3.64 -> 0.38 that a client sees (rows 15, 16, 19 of comfyui-0.38.md)."""
    save = info["SaveVideo"]
    legacy_codec = save["input"]["required"].pop("codec")
    formats = [
        {"key": "auto", "inputs": {}},
        *(
            {"key": fmt, "inputs": {"required": {"codec": _codec_combo(codecs)}}}
            for fmt, codecs in (("mp4", ["auto", "h264", "av1"]), ("mkv", ["auto", "h264", "av1"]), ("webm", ["vp9"]))
        ),
    ]
    save["input"]["required"]["format"] = [
        DYNAMIC_COMBO,
        {"options": formats, "tooltip": "The format to save the video as."},
    ]
    # The old flat `codec` stays accepted as a hidden optional input, so 0.3.x graphs keep validating.
    legacy_codec[1] = {**legacy_codec[1], "advanced": True, "hidden": True}
    save["input"]["optional"] = {"codec": legacy_codec}
    save["input_order"] = {"required": ["video", "filename_prefix", "format"], "optional": ["codec"]}
    for cls, entry in info.items():
        entry["has_intermediate_output"] = cls in INTERMEDIATE_OUTPUT
        entry.setdefault("search_aliases", [])
