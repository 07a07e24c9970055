"""Node schemas for workflow tests: the real `/object_info` of the captured ComfyUI 0.3.64 (all 478 classes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from genbridge.standins.comfyui.schema import full_object_info
from genbridge.standins.fixtures import load_fixture


def captured_object_info() -> dict[str, Any]:
    """Every `/object_info/{Class}` entry recorded in 01_endpoints.json (V1 and V3 shapes)."""
    out: dict[str, Any] = {}
    for resp in load_fixture("comfyui", "01_endpoints.json")["responses"]:
        body = resp.get("json")
        if resp.get("status") == 200 and str(resp.get("path", "")).startswith("/object_info/") and body:
            out.update(body)
    return out


@pytest.fixture(scope="session")
def captured() -> dict[str, Any]:
    return captured_object_info()


@pytest.fixture(scope="session")
def class_names() -> set[str]:
    """All node classes of the captured server."""
    return set(full_object_info())


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    """The complete captured `/object_info` (its model combos are empty: the server had no model files)."""
    return full_object_info()


# The model files the bundled templates name by default, as a server would list them per folder.
BUNDLED_MODELS: dict[str, list[str]] = {
    "checkpoints": ["v1-5-pruned-emaonly-fp16.safetensors", "sd_xl_base_1.0.safetensors"],
    "diffusion_models": [
        "flux1-dev.safetensors",
        "flux1-dev-kontext_fp8_scaled.safetensors",
        "wan2.1_t2v_1.3B_fp16.safetensors",
        "wan2.1_i2v_480p_14B_fp8_e4m3fn.safetensors",
        "wan2.2_ti2v_5B_fp16.safetensors",
        "wan2.1_flf2v_720p_14B_fp8_e4m3fn.safetensors",
    ],
    "text_encoders": [
        "clip_l.safetensors",
        "t5xxl_fp8_e4m3fn.safetensors",
        "t5xxl_fp8_e4m3fn_scaled.safetensors",
        "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ],
    "vae": ["ae.safetensors", "wan_2.1_vae.safetensors", "wan2.2_vae.safetensors"],
    "clip_vision": ["clip_vision_h.safetensors"],
    "upscale_models": ["RealESRGAN_x4plus.safetensors"],
    "controlnet": ["control_v11f1p_sd15_depth_fp16.safetensors", "controlnet-depth-sdxl-1.0.safetensors"],
}


@pytest.fixture()
def models() -> dict[str, list[str]]:
    return {k: list(v) for k, v in BUNDLED_MODELS.items()}


@pytest.fixture()
def ref_image(tmp_path: Path) -> str:
    path = tmp_path / "ref.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return str(path)
