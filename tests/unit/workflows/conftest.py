"""Node schemas for workflow tests: the captured /object_info entries plus the core nodes the capture lacks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from genbridge.standins.fixtures import load_fixture

HERE = Path(__file__).resolve().parent


def captured_object_info() -> dict[str, Any]:
    """Every `/object_info/{Class}` entry recorded in 01_endpoints.json (V1 and V3 shapes)."""
    out: dict[str, Any] = {}
    for resp in load_fixture("comfyui", "01_endpoints.json")["responses"]:
        body = resp.get("json")
        if resp.get("status") == 200 and str(resp.get("path", "")).startswith("/object_info/") and body:
            out.update(body)
    return out


def captured_class_names() -> set[str]:
    """All 478 node class names the capture's notes list (the full /object_info body was not stored)."""
    for note in load_fixture("comfyui", "01_endpoints.json")["notes"]:
        text = note.get("note", "")
        if text.startswith("all node classes: "):
            return {n.strip() for n in re.split(r", (?=[A-Za-z])", text.removeprefix("all node classes: "))}
    raise AssertionError("class list not found in the capture")


def core_object_info() -> dict[str, Any]:
    return json.loads((HERE / "core_node_schemas.json").read_text(encoding="utf-8"))["object_info"]


@pytest.fixture(scope="session")
def captured() -> dict[str, Any]:
    return captured_object_info()


@pytest.fixture(scope="session")
def core() -> dict[str, Any]:
    return core_object_info()


@pytest.fixture(scope="session")
def class_names() -> set[str]:
    return captured_class_names()


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    """Captured entries win over the hand-written core schemas."""
    return {**core_object_info(), **captured_object_info()}


# The model files the bundled templates name by default, as a server would list them per folder.
BUNDLED_MODELS: dict[str, list[str]] = {
    "checkpoints": ["v1-5-pruned-emaonly-fp16.safetensors", "sd_xl_base_1.0.safetensors"],
    "diffusion_models": [
        "flux1-dev.safetensors",
        "flux1-dev-kontext_fp8_scaled.safetensors",
        "wan2.1_t2v_1.3B_fp16.safetensors",
        "wan2.1_i2v_480p_14B_fp8_e4m3fn.safetensors",
    ],
    "text_encoders": [
        "clip_l.safetensors",
        "t5xxl_fp8_e4m3fn.safetensors",
        "t5xxl_fp8_e4m3fn_scaled.safetensors",
        "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ],
    "vae": ["ae.safetensors", "wan_2.1_vae.safetensors"],
    "clip_vision": ["clip_vision_h.safetensors"],
    "upscale_models": ["RealESRGAN_x4plus.safetensors"],
}


@pytest.fixture()
def models() -> dict[str, list[str]]:
    return {k: list(v) for k, v in BUNDLED_MODELS.items()}


@pytest.fixture()
def ref_image(tmp_path: Path) -> str:
    path = tmp_path / "ref.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return str(path)
