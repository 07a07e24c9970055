"""Headless scene inputs: `--input image=render:<file.blend>:<camera>[:<capture>][@<frame>]`, where the capture is
camera, preview, depth, normal, mist or mask.

Each such input is made by Blender itself: the bpy interpreter ($GENBRIDGE_BPY_PYTHON, as `storyboard` finds it)
runs `cli/scene_capture_worker.py` in a subprocess with an isolated user folder, which opens the .blend and writes
the capture into the job's output folder (`<output>/<task>-<job id>`). The file then goes up like any `--input`
image, and its provenance (camera, frame, pass, .blend) is recorded in the job's `captures`.

`camera` renders with the scene's own engine, `preview` with Workbench (fast); the passes are as in
`blender/capture.py`. `@<frame>` renders that frame instead of the one the file was saved at: a number, or `@start`
/ `@end` for the scene's first / last frame (first-last frame from one .blend: `start_image=render:shot.blend:
Camera@start end_image=render:shot.blend:Camera@end`); a frame outside the scene's range is refused by Blender.
The size is the job's (`--set width=/height=`, else the template's defaults, else the .blend's render size).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime.errors import ConfigError, LocalProblem, RejectedInput

PREFIX = "render:"
KINDS = ("camera", "preview", "depth", "normal", "mist", "mask")
WORKER = Path(__file__).resolve().with_name("scene_capture_worker.py")
DEFAULT_TIMEOUT_S = 600.0
_USAGE = "Use --input image=render:<file.blend>:<camera>[:" + "|".join(KINDS) + "][@<frame>|@start|@end]."
_FRAME_WORDS = ("start", "end", "current")


@dataclass(frozen=True)
class RenderRef:
    """One parsed `render:` input."""

    blend: str
    camera: str
    kind: str = "camera"
    frame: int | str | None = None  # a number, "start", "end"; None: the frame the file was saved at


def parse_render_ref(value: str) -> RenderRef | None:
    """A `render:` reference, or None for a plain file path; RejectedInput says how to write a bad one."""
    if not value.startswith(PREFIX):
        return None
    rest = value[len(PREFIX) :]
    blend, _, tail = rest.rpartition(".blend:")
    if not blend:
        raise RejectedInput(f'"{value}" does not name a .blend file and a camera.', _USAGE)
    blend += ".blend"
    tail, frame = _split_frame(tail)
    camera, sep, kind = tail.rpartition(":")
    if not sep:  # no capture named: the whole tail is the camera
        camera, kind = tail, "camera"
    elif kind not in KINDS and ":" not in camera and (kind.isidentifier() or "/" in kind or "." in kind):
        raise RejectedInput(f'"{value}": unknown capture "{kind}".', _USAGE)
    elif kind not in KINDS:  # a camera name with a colon in it ("Cam: Wide")
        camera, kind = tail, "camera"
    if not camera.strip():
        raise RejectedInput(f'"{value}" names no camera.', _USAGE)
    if not Path(blend).expanduser().is_file():
        raise RejectedInput(f"The .blend file {blend} does not exist.", "Check the path after render:.")
    return RenderRef(str(Path(blend).expanduser().resolve()), camera, kind, frame)


def _split_frame(tail: str) -> tuple[str, int | str | None]:
    """`<camera>[:<kind>]@<frame>` -> (the rest, the frame): only a trailing `@` followed by a frame number or
    start / end / current counts (a camera may have `@` in its name: "Cam@Wide" stays the camera)."""
    rest, sep, word = tail.rpartition("@")
    if not sep or not rest:
        return tail, None
    key = word.strip().lower()
    if key in _FRAME_WORDS:
        return rest, None if key == "current" else key
    if key.lstrip("-").isdigit() and len(key) <= 8:
        return rest, int(key)
    return tail, None


def bpy_python() -> Path:
    from .storyboard import bpy_python as storyboard_bpy_python

    return storyboard_bpy_python()


def run_capture(
    ref: RenderRef,
    param: str,
    folder: Path,
    *,
    width: int | None = None,
    height: int | None = None,
    timeout: float | None = None,
    python: Path | None = None,
) -> dict[str, Any]:
    """Capture `ref` into `folder` with Blender in a subprocess; returns the provenance (CaptureInfo fields)."""
    python = python or bpy_python()
    if not python.is_file():
        raise ConfigError(
            f"Blender's Python (the bpy module) was not found at {python}.",
            "Set GENBRIDGE_BPY_PYTHON to a Python with `bpy` installed (./dev setup makes .venvs/bpy-4.5.15).",
        )
    source = "camera" if ref.kind == "preview" else ref.kind
    options: dict[str, Any] = {"width": width, "height": height}
    if ref.kind == "preview":
        options["engine"] = "WORKBENCH"
    request = {
        "blend": ref.blend,
        "camera": ref.camera,
        "source": source,
        "param": param,
        "folder": str(folder),
        "options": options,
        "frame": ref.frame,
    }
    with tempfile.TemporaryDirectory(prefix="genbridge-capture-") as home:
        env = {**os.environ, "BLENDER_USER_RESOURCES": str(Path(home) / "blender"), "XDG_CACHE_HOME": home}
        try:
            done = subprocess.run(
                [str(python), str(WORKER), json.dumps(request)],
                capture_output=True,
                text=True,
                timeout=timeout or DEFAULT_TIMEOUT_S,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            limit = timeout or DEFAULT_TIMEOUT_S
            raise LocalProblem(
                f"Blender did not finish the {ref.kind} capture of {ref.blend} within {limit:g} s.",
                "Use :preview (Workbench) or a smaller --set width/height, or raise --timeout.",
            ) from None
    lines = done.stdout.splitlines()
    for line in reversed(lines):
        if line.startswith("GENBRIDGE_CAPTURE "):
            return dict(json.loads(line.split(" ", 1)[1]))
        if line.startswith("GENBRIDGE_CAPTURE_ERROR "):
            raise RejectedInput(f"Blender could not capture {ref.blend}: {line.split(' ', 1)[1]}", _USAGE)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    raise LocalProblem(
        f"Blender stopped (exit {done.returncode}) before capturing {ref.blend}: {' / '.join(tail) or 'no output'}.",
        "Open the file in Blender to check it, or set GENBRIDGE_BPY_PYTHON to another bpy interpreter.",
    )


def resolve_render_inputs(
    images: dict[str, str], job_folder: Path, *, size: tuple[int | None, int | None], timeout: float | None = None
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Replace every `render:` value by the captured file; returns (images, provenance records)."""
    out, records = dict(images), []
    for param, value in images.items():
        ref = parse_render_ref(str(value))
        if ref is None:
            continue
        record = run_capture(ref, param, job_folder, width=size[0], height=size[1], timeout=timeout)
        out[param] = record["path"]
        records.append(record)
    return out, records


def new_job_id() -> str:
    return str(uuid.uuid4())  # the same form as runtime.jobs.new_job_id (uuid4: also a ComfyUI prompt id)
