"""One test per bad-template case, each pinning the exact message a Blender user reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from genbridge.runtime.errors import IncompatibleServer, RejectedInput
from genbridge.workflows import load_template, preflight, preflight_error, structural_problems
from genbridge.workflows.template import template_from_metadata

SAVE = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}, "_meta": {"title": "Save"}}
EMPTY = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}}


def test_ui_format_workflow_is_rejected_with_export_instructions(tmp_path: Path) -> None:
    path = tmp_path / "scene.json"
    ui = {"last_node_id": 2, "last_link_id": 1, "nodes": [{"id": 1, "type": "EmptyImage"}], "links": [], "version": 0.4}
    path.write_text(json.dumps(ui))
    with pytest.raises(RejectedInput) as info:
        load_template(path)
    assert (
        info.value.message
        == "The workflow scene.json is saved in ComfyUI's UI format, not the API format GenBridge needs."
    )
    assert info.value.hint == (
        "In ComfyUI open the workflow and choose Workflow > Export (API) (older frontends: turn on "
        "Settings > Dev mode, then use Save (API Format)), and use the exported file."
    )


def test_dangling_link_names_the_node_input_and_missing_source() -> None:
    workflow = {"1": EMPTY, "2": {**SAVE, "inputs": {"images": ["9", 0], "filename_prefix": "x"}}}
    error = preflight_error(structural_problems(workflow))
    assert isinstance(error, RejectedInput)
    assert error.message == (
        'The workflow cannot run on the server: node 2 "Save" (SaveImage): input "images" links to node 9, '
        "which is not in the workflow."
    )


def test_unknown_node_is_named_as_a_missing_custom_node_with_the_missing_input(object_info: dict[str, Any]) -> None:
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "FancyUpscaler", "inputs": {"image": ["1", 0]}},
        "3": SAVE,
    }
    error = preflight_error(preflight(workflow, object_info, {}), server="ComfyUI at 127.0.0.1:8188")
    assert isinstance(error, IncompatibleServer)
    assert error.message == (
        "The workflow cannot run on ComfyUI at 127.0.0.1:8188: missing custom nodes: FancyUpscaler (node 2); "
        'node 1 (EmptyImage) is missing the required input "width".'
    )
    assert error.hint == (
        "To fix it, install the missing custom nodes (e.g. with ComfyUI-Manager) and restart ComfyUI, "
        "or use another server."
    )


def test_missing_models_are_all_named_with_their_folder_and_node(object_info: dict[str, Any]) -> None:
    workflow = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x-UltraSharp.pth"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},  # a built-in, not a file
        "4": {"class_type": "LoadImage", "inputs": {"image": "mine.png"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "x"}},
    }
    models = {"checkpoints": ["v1-5.safetensors"], "upscale_models": [], "vae": []}
    error = preflight_error(preflight(workflow, object_info, models))
    assert isinstance(error, IncompatibleServer)
    assert error.message == (
        "The workflow cannot run on the server: missing models: checkpoints/dreamshaper_8.safetensors (node 1), "
        "upscale_models/4x-UltraSharp.pth (node 2)."
    )
    assert error.hint == (
        "To fix it, put the missing model files into the named ComfyUI/models folders, or use another server."
    )


def test_bad_parameter_bindings_are_all_named_in_one_error() -> None:
    workflow = {"1": EMPTY, "2": SAVE}
    meta = {
        "params": {
            "w": {"type": "int", "bind": "Sav.width"},
            "p": {"type": "string", "bind": "Save.prefix"},
            "i": {"type": "int", "bind": "Save.images"},
            "q": {"type": "int"},
            "r": {"type": "integer", "bind": "1.width"},
        }
    }
    with pytest.raises(RejectedInput) as info:
        template_from_metadata(workflow, meta, default_name="broken")
    assert info.value.message == (
        'The template "broken" has bad parameter bindings: '
        'parameter "w" is bound to "Sav.width", but no node has the id or title "Sav"; '
        'parameter "p" is bound to "Save.prefix", but node 2 "Save" (SaveImage) has no input "prefix"; '
        'parameter "i" is bound to "Save.images", but input "images" of node 2 "Save" (SaveImage) is a link, '
        "not a value; "
        'parameter "q" is not bound to any node input (add bind = "<node>.<input>"); '
        'parameter "r" has unknown type "integer" (use one of string, int, float, bool, image, model).'
    )


def test_ambiguous_title_binding_asks_for_the_node_id() -> None:
    workflow = {
        "1": {**EMPTY, "_meta": {"title": "Canvas"}},
        "2": {**EMPTY, "_meta": {"title": "Canvas"}},
        "3": SAVE,
    }
    with pytest.raises(RejectedInput) as info:
        template_from_metadata(workflow, {"params": {"w": {"type": "int", "bind": "Canvas.width"}}}, default_name="t")
    assert info.value.message == (
        'The template "t" has bad parameter bindings: parameter "w" is bound to "Canvas.width", '
        'but the title "Canvas" is used by nodes 1, 2; bind by node id instead.'
    )


def test_value_out_of_the_node_range_and_bad_combo_are_named(object_info: dict[str, Any]) -> None:
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": "abc", "batch_size": 1, "color": 0}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "superres", "width": 8, "height": 8, "crop": "disabled"},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    messages = [p.message for p in preflight(workflow, object_info, {})]
    assert messages == [
        'node 1 (EmptyImage): input "width" is 0, below the minimum 1.',
        "node 1 (EmptyImage): input \"height\" expects a whole number, got 'abc'.",
        "node 2 (ImageScale): input \"upscale_method\" is 'superres', which is not one of 'nearest-exact', "
        "'bilinear', 'area', 'bicubic', 'lanczos'.",
    ]


def test_link_type_mismatch_is_named(object_info: dict[str, Any]) -> None:
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 1], "filename_prefix": "x"}},
    }
    assert [p.message for p in preflight(workflow, object_info, {})] == [
        'node 2 (SaveImage): input "images" expects IMAGE but is linked to a MASK output of node 1.'
    ]
