"""Read-only metadata routes: `/system_stats`, `/features`, `/object_info[/{class}]`, `/models[/{folder}]`.

`/object_info` is the captured 478-class schema (see `schema.py`) with the configured model files and, like the
real server, the file combos of the loaders listing what is in `input/` right now. Runs on the server's loop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiohttp import web

from .schema import MODEL_FOLDERS, set_file_options

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
VIDEO_EXTS = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".webp"}
# Loader combos the server fills from the top level of input/ (sub-folder files are accepted, not listed).
INPUT_LISTS = {("LoadImage", "image"): IMAGE_EXTS, ("LoadImageMask", "image"): IMAGE_EXTS}
INPUT_LISTS_V3 = {("LoadVideo", "file"): VIDEO_EXTS}


class MetaRoutesMixin:
    """Metadata handlers for `ComfyUIStandIn`."""

    version: str
    v038: bool
    device: str
    vram_total_gb: float
    vram_free_gb: float
    max_upload_size: int
    object_info: dict[str, Any]
    models: dict[str, list[str]]
    dirs: dict[str, Path]

    def _features(self) -> dict[str, Any]:
        flags: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": self.max_upload_size}
        if self.v038:
            flags |= {
                "supports_model_type_tags": True,
                "extension": {"manager": {"supports_v4": True}},
                "node_replacements": True,
                "assets": True,
            }
        return flags

    async def h_system_stats(self, request: web.Request) -> web.Response:
        gb = 1024**3
        cpu = self.device == "cpu"
        total, free = int(self.vram_total_gb * gb), int(self.vram_free_gb * gb)
        device = {
            "name": "cpu" if cpu else "cuda:0 Stand-in GPU : cudaMallocAsync",
            "type": "cpu" if cpu else "cuda",
            "index": None if cpu else 0,
            "vram_total": total,
            "vram_free": free,
            "torch_vram_total": total,
            "torch_vram_free": free,
        }
        system: dict[str, Any] = {
            "os": "posix",
            "ram_total": 32 * gb,
            "ram_free": 24 * gb,
            "comfyui_version": self.version,
            "required_frontend_version": "1.27.10",
            "python_version": "3.11.7",
            "pytorch_version": "2.13.0+cpu" if cpu else "2.13.0+cu130",
            "embedded_python": False,
            "argv": ["main.py", "--standin"],
        }
        if self.v038:
            system |= {"comfy_package_versions": {}, "deploy_environment": "local"}
        return web.json_response({"system": system, "devices": [device]})

    async def h_features(self, request: web.Request) -> web.Response:
        return web.json_response(self._features())

    def current_object_info(self) -> dict[str, Any]:
        """The schema as the server reports it now (loader combos list the input folder)."""
        info = dict(self.object_info)
        for (cls, name), exts in {**INPUT_LISTS, **INPUT_LISTS_V3}.items():
            if cls in info:
                info[cls] = set_file_options(info, cls, name, self._input_files(exts))
        return info

    def _input_files(self, exts: set[str]) -> list[str]:
        with os.scandir(self.dirs["input"]) as entries:
            names = [e.name for e in entries if e.is_file() and os.path.splitext(e.name)[1].lower() in exts]
        return sorted(names)

    async def h_object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.current_object_info())

    async def h_object_info_one(self, request: web.Request) -> web.Response:
        cls = request.match_info["cls"]
        info = self.current_object_info() if cls in self.object_info else {}
        return web.json_response({cls: info[cls]} if cls in info else {})  # unknown class: 200 {}

    async def h_models(self, request: web.Request) -> web.Response:
        return web.json_response(MODEL_FOLDERS)

    async def h_models_folder(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(sorted(self.models.get(folder, [])))

    async def h_empty_list(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def h_empty_dict(self, request: web.Request) -> web.Response:
        return web.json_response({})
