"""GenBridge: drive local ComfyUI, WanGP and LiteLLM services from Blender without freezing it.

This file is imported both by Blender (as `bl_ext.<repo>.genbridge`) and by plain Python (as `genbridge`, for
tests, benchmarks and the command line), so it imports nothing from Blender at module level: bpy and the
Blender-facing modules are imported inside `register()` and `unregister()` only. Enabling must stay cheap: no
network, no threads, no aiohttp/pydantic imports here (the loop thread starts on first use).
"""

from __future__ import annotations

from typing import Any

_registered: list[Any] = []


def register() -> None:
    import bpy

    from . import blender, operators, preferences, storyboard, ui

    # The storyboard's panels are children of the GenBridge panels, and its menu entries go into the GenBridge
    # menu: it registers after `ui`.
    for cls in (*preferences.CLASSES, *operators.classes(), *ui.classes(), *storyboard.classes()):
        bpy.utils.register_class(cls)
        _registered.append(cls)
    ui.register()
    storyboard.register()
    blender.start(__package__, preferences.READERS)


def unregister() -> None:
    import bpy

    from . import blender, storyboard, ui

    blender.stop()
    storyboard.unregister()
    ui.unregister()
    while _registered:
        bpy.utils.unregister_class(_registered.pop())
