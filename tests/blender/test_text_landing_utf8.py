"""Streamed text with non-ASCII characters lands in a Text block intact (real bpy: Blender counts the cursor's
`character` in UTF-8 bytes, so a character count wrote into the middle of "é")."""

from __future__ import annotations

import bpy


def test_streamed_accents_land_whole_in_the_text_block():
    import importlib

    landing = importlib.import_module("genbridge.blender.landing")
    text = bpy.data.texts.new("genbridge-utf8-test")
    try:
        for piece in ["Lumi", "ére", " de la R", "êve", "\n", "映画", " ok"]:
            landing.append_text(text, piece)
        assert text.as_string() == "Lumiére de la Rêve\n映画 ok"
    finally:
        bpy.data.texts.remove(text)
