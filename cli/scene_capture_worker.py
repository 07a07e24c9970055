"""Run inside Blender's Python (the `bpy` module interpreter): open a .blend, make one capture, print its provenance.

Started by `cli/scene_inputs.py` as `<bpy python> scene_capture_worker.py '<json request>'`; the last stdout line is
`GENBRIDGE_CAPTURE <json>` (the provenance) or `GENBRIDGE_CAPTURE_ERROR <message>`. It loads `blender/capture*.py`
by path (they import only bpy, numpy if present and the standard library), so no add-on needs installing.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    # The capture modules as a package of their own: `blender/__init__.py` (the add-on's session) is not run.
    package = types.ModuleType("genbridge_capture")
    package.__path__ = [str(Path(__file__).resolve().parents[1] / "blender")]
    sys.modules["genbridge_capture"] = package
    capture = importlib.import_module("genbridge_capture.capture")
    import bpy

    try:
        bpy.ops.wm.open_mainfile(filepath=request["blend"], load_ui=False)
        options = {k: v for k, v in request.get("options", {}).items() if v}
        if request.get("camera"):
            options["camera"] = request["camera"]
        if request.get("frame") is not None:  # a number (0 included), "start" or "end"; checked by the capture
            options["frame"] = request["frame"]
        record = capture.capture(request["source"], request["folder"], param=request["param"], **options)
    except (capture.CaptureError, RuntimeError) as exc:
        print("GENBRIDGE_CAPTURE_ERROR " + str(exc).strip().replace("\n", " "), flush=True)
        return 3
    print("GENBRIDGE_CAPTURE " + json.dumps({**record, "blend_file": request["blend"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
