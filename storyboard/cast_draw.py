"""The Cast panel drawn from plain data: `draw_cast(layout, board)` only reads the scene's cast properties, so tests
drive it with a recording layout. No bpy here."""

from __future__ import annotations

import os
from typing import Any

from ..ui.wrap import DEFAULT_CHARS, draw_wrapped

SOURCE_ICONS = {"file": "FILE_IMAGE", "camera": "CAMERA_DATA", "image_editor": "IMAGE_DATA"}
ADD_BUTTONS = (("FILE", "File", "FILEBROWSER"), ("CAMERA", "Camera", "CAMERA_DATA"), ("IMAGE_EDITOR", "Image", "IMAGE"))


def draw_cast(layout: Any, board: Any, chars: int = DEFAULT_CHARS) -> None:
    """Per cast member: name, description, seed, its reference images and the ways to add one; then Add and the
    text-to-image fallback option."""
    col = layout.column()
    if not len(board.cast):
        draw_wrapped(
            col,
            "The shot list's characters appear here. Give each a reference image to keep their look.",
            chars,
            "INFO",
        )
    for index, member in enumerate(board.cast):
        box = layout.box()
        title = box.row(align=True)
        title.prop(member, "name", text="", icon="USER")
        remove = title.operator("genbridge.cast_remove", text="", icon="X")
        remove.index = index
        box.prop(member, "description", text="", placeholder="What they look like (folded into every prompt)")
        box.prop(member, "seed")
        if not len(member.references):
            box.label(text="No reference yet: text to image only", icon="ERROR")
        for r, ref in enumerate(member.references):
            row = box.row(align=True)
            row.label(text=os.path.basename(ref.path) or "(no file)", icon=SOURCE_ICONS.get(ref.source, "FILE_IMAGE"))
            drop = row.operator("genbridge.cast_remove_reference", text="", icon="X")
            drop.index, drop.reference = index, r
        # The label on its own line: beside the three buttons it and "Camera" were cut to "Add ref..." and "Ca..."
        # in the 3D Viewport's sidebar at its default width (seen in the real GUI).
        box.label(text="Add a reference from:")
        add = box.row(align=True)
        for source, text, icon in ADD_BUTTONS:
            op = add.operator("genbridge.cast_add_reference", text=text, icon=icon)
            op.index, op.source = index, source
    layout.operator("genbridge.cast_add", text="Add Cast Member", icon="ADD")
    layout.prop(board, "allow_text_fallback")


def take_cast_text(take: Any) -> str:
    """What a take's keyframe used from the cast ("Cast: Mara, the keeper"), or "" when it used none."""
    names = [line.split(":", 1)[0] for line in str(getattr(take, "keyframe_references", "")).split("\n") if line]
    return f"Cast: {', '.join(names)}" if names else ""
