"""Parsing /object_info: V1 and V3 node shapes give the same InputSpec."""

from __future__ import annotations

from typing import Any

from genbridge.workflows.schema import parse_object_info


def test_v1_combo_is_parsed_with_its_options(captured: dict[str, Any]) -> None:
    schemas = parse_object_info(captured)
    spec = schemas["ImageScale"].inputs["upscale_method"]
    assert spec.type == "COMBO"
    assert spec.options == ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")


def test_v3_combo_is_parsed_with_its_options_and_default(captured: dict[str, Any]) -> None:
    spec = parse_object_info(captured)["SaveVideo"].inputs["codec"]
    assert (spec.type, spec.options, spec.default) == ("COMBO", ("auto", "h264"), "auto")


def test_hidden_inputs_of_both_generations_are_names_not_inputs(captured: dict[str, Any]) -> None:
    schemas = parse_object_info(captured)
    assert schemas["SaveImage"].hidden == ("prompt", "extra_pnginfo")  # V1: "PROMPT"
    assert schemas["SaveWEBM"].hidden == ("prompt", "extra_pnginfo")  # V3: ["PROMPT"]
    assert "prompt" not in schemas["SaveWEBM"].inputs


def test_null_display_name_falls_back_to_the_class_name(captured: dict[str, Any]) -> None:
    assert parse_object_info(captured)["ImageBlur"].display_name == "ImageBlur"


def test_upload_combos_are_flagged_so_their_server_file_lists_are_not_checked(captured: dict[str, Any]) -> None:
    schemas = parse_object_info(captured)
    assert schemas["LoadImage"].inputs["image"].upload
    assert schemas["LoadImageOutput"].inputs["image"].upload


def test_numeric_ranges_and_optional_inputs_are_kept(captured: dict[str, Any]) -> None:
    schemas = parse_object_info(captured)
    width = schemas["EmptyImage"].inputs["width"]
    assert (width.type, width.min, width.max, width.default) == ("INT", 1, 16384, 512)
    assert schemas["CreateVideo"].inputs["audio"].required is False
    assert schemas["CreateVideo"].outputs == ("VIDEO",)


def test_each_captured_class_entry_matches_the_full_object_info(
    captured: dict[str, Any], object_info: dict[str, Any]
) -> None:
    # LoadImage lists the input folder, which held example.png when the entry was captured.
    assert captured["LoadImage"]["input"]["required"]["image"][0] == ["example.png"]
    assert all(object_info[cls] == entry for cls, entry in captured.items() if cls != "LoadImage")
