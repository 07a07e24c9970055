"""A pass's finishing on the GUI's path (`CaptureRun`, stepped here as the modal steps it): the EXR is read on the main
thread and normalised / encoded in a worker thread. The PNG is the same bytes as the blocking path's (with numpy and
in plain Python), a cancel while the worker runs leaves no file and the user's settings as they were, and an error in
the worker comes back as a CaptureError. The render job itself runs only in the GUI: here the run's render step
renders in place with the same file write (`write_still`), as `test_capture_job` does."""

from __future__ import annotations

import importlib
import random
import threading
import zlib
from array import array
from pathlib import Path

import bpy
import pytest

pytestmark = pytest.mark.usefixtures("idle_loop")  # steps CaptureRuns by hand: see the fixture

PKG = "bl_ext.user_default.genbridge"
SIZE = {"width": 64, "height": 48}
WAIT_S = 60  # a bound on waiting for the worker thread (not a timing assertion)


def mod(name: str):
    return importlib.import_module(f"{PKG}.blender.{name}")


@pytest.fixture
def scene(gb, quad_under_camera):
    """A tilted quad under a camera (depth varies across it), Workbench as the user's engine."""
    return quad_under_camera("Tilted", "Finish Cam", half=2.0, tilt=0.6)


@pytest.fixture
def stepped(gb, monkeypatch):
    """`stepped(sources)`: a CaptureRun whose render step renders in place (blocking, writing the same file the
    render job writes); the render handlers still report the outcome, as after a render job."""
    job = mod("capture_job")

    def render_in_place(self, prep):
        self.watch, self.waited = job.RenderWatch(), 0
        self.written = job.written_by_the_job(prep)
        with bpy.context.temp_override(scene=prep.scene):
            assert bpy.ops.render.render(write_still=True, scene=prep.scene.name) == {"FINISHED"}

    monkeypatch.setattr(job.CaptureRun, "_start_render", render_in_place)
    session = gb.blender.running()

    def make(sources):
        return job.CaptureRun(session, {"task": "image", "inputs": {"prompt": "x"}}, sources, window=None, area=None)

    return make


def settings_of(scene) -> dict:
    render = scene.render
    return {
        "engine": render.engine,
        "size": (render.resolution_x, render.resolution_y, render.resolution_percentage),
        "film_transparent": render.film_transparent,
        "override": scene.view_layers[0].material_override,
        "filepath": render.filepath,
        "format": render.image_settings.file_format,
    }


def until_encoding(run) -> None:
    """Step until the pass's render has ended and its encoding runs in the worker thread."""
    assert run.step() is False  # prepared, rendered
    assert run.step() is False  # the EXR read on the main thread, the worker started
    assert run.finishing is not None


def finish(run) -> bool:
    """Wait for the worker, then the step that takes its result."""
    assert run.finishing[2].join(WAIT_S)
    return run.step()


@pytest.mark.parametrize(("kind", "plain"), [("depth", False), ("depth", True), ("normal", True)])
def test_a_pass_finished_in_a_worker_is_the_same_png_as_the_blocking_path(gb, scene, stepped, monkeypatch, kind, plain):
    passes = mod("capture_passes")
    monkeypatch.setattr(passes, "FORCE_PLAIN", plain)
    folder = gb.blender.running().job_folder("image", "blocking-reference")
    blocking = Path(passes.capture_pass(kind, folder, scene=scene, **SIZE)["path"]).read_bytes()
    before = settings_of(scene)
    run = stepped({"image": {"source": kind, "scene": scene, **SIZE}})
    until_encoding(run)
    assert settings_of(scene) == before  # put back as soon as the pixels were read
    assert "capturing depth" in run.status() or "capturing normal" in run.status()
    assert not run.records  # the job waits for the file
    assert finish(run) is True
    (record,) = run.records
    assert Path(record["path"]).read_bytes() == blocking
    assert (record["source"], record["width"], record["height"]) == (kind, 64, 48)
    run.cancel()
    Path(folder, f"capture-image-{kind}.png").unlink()
    folder.rmdir()


def hold_encoding(monkeypatch):
    """Make the worker wait (once it has started encoding) until the returned `release()` is called."""
    png = mod("pass_png")
    gate, entered = threading.Event(), threading.Event()
    encode = png.encode

    def held(*args):
        entered.set()
        gate.wait(WAIT_S)
        return encode(*args)

    monkeypatch.setattr(png, "encode", held)

    def release() -> None:
        assert entered.wait(WAIT_S), "the worker never started encoding"
        gate.set()

    return release


def test_cancel_while_the_worker_encodes_leaves_no_file_and_the_settings_as_they_were(gb, scene, stepped, monkeypatch):
    release = hold_encoding(monkeypatch)
    before = settings_of(scene)
    materials = set(bpy.data.materials.keys())
    run = stepped({"image": {"source": "depth", "scene": scene, **SIZE}})
    until_encoding(run)
    thread = run.finishing[2]
    assert not thread.done()
    run.stop()  # Esc
    with pytest.raises(mod("capture_common").CaptureCancelled):
        run.step()
    run.cancel()  # what the modal does on the error; does not wait for the encoding
    assert run.finishing is None and not run.records
    release()  # the worker finishes after the cancel: it must not write its file
    assert thread.join(WAIT_S)
    assert not thread.path.exists() and not run.folder.exists()
    assert settings_of(scene) == before and set(bpy.data.materials.keys()) == materials


def test_cancel_after_the_worker_wrote_its_file_removes_it(gb, scene, stepped):
    run = stepped({"image": {"source": "mask", "scene": scene, "objects": ["Tilted"], **SIZE}})
    until_encoding(run)
    thread = run.finishing[2]
    assert thread.join(WAIT_S) and thread.path.is_file()  # written, not yet taken by a step
    run.cancel()
    assert not thread.path.exists() and not run.folder.exists()


def test_an_error_in_the_worker_becomes_a_capture_error_and_leaves_nothing(gb, scene, stepped, monkeypatch):
    png = mod("pass_png")

    def broken(*_args):
        raise ValueError("cannot convert float NaN to integer")

    monkeypatch.setattr(png, "encode", broken)
    before = settings_of(scene)
    run = stepped({"image": {"source": "depth", "scene": scene, **SIZE}})
    until_encoding(run)
    with pytest.raises(mod("capture_common").CaptureError) as err:
        finish(run)
    assert str(err.value) == (
        "GenBridge could not finish the depth capture for 'image' (ValueError: cannot convert float NaN to integer); "
        "nothing was queued. Generate again; if it fails again, render the pass with F12 to check it."
    )
    run.cancel()
    assert not run.folder.exists() and settings_of(scene) == before


def test_a_worker_that_cannot_write_says_to_check_the_output_folder(gb, scene, stepped, monkeypatch):
    release = hold_encoding(monkeypatch)
    run = stepped({"image": {"source": "depth", "scene": scene, **SIZE}})
    until_encoding(run)
    thread = run.finishing[2]
    for leftover in run.folder.iterdir():
        leftover.unlink()
    run.folder.rmdir()  # the output folder gone (moved, unmounted) while the worker encodes
    release()
    with pytest.raises(mod("capture_common").CaptureError) as err:
        finish(run)
    assert str(err.value) == (
        "GenBridge could not write the depth capture for 'image' (No such file or directory): check that the "
        "output folder is writable and has space, then Generate again."
    )
    run.cancel()
    assert not thread.path.exists()


def samples(png: bytes, height: int) -> bytes:
    """The samples of a PNG this writer made (one IDAT after the 13-byte IHDR), each row's filter byte dropped."""
    length = int.from_bytes(png[33:37], "big")
    scan = zlib.decompress(png[41 : 41 + length])
    row = len(scan) // height
    return b"".join(scan[r * row + 1 : (r + 1) * row] for r in range(height))


def noisy_pass(width: int, height: int, seed: int) -> array:
    """A raw pass with a mix of seen and unseen pixels, values around each kind's range (and exact ties)."""
    rng = random.Random(seed)
    out = array("f")
    for i in range(width * height):
        seen = 1.0 if rng.random() < 0.8 else 0.0
        x = 0.0 if i % 7 == 0 else rng.uniform(-1.2, 1.2)  # 0 maps to 0.5: a tie for round-half-even
        out.extend((rng.uniform(2.0, 12.0) if i % 3 else x, rng.uniform(0.0, 40.0), rng.uniform(-1.0, 1.0), seen))
    return out


@pytest.mark.parametrize("kind", ["depth", "normal", "mist", "mask"])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_plain_python_and_numpy_encode_the_same_levels_within_one(kind, bit_depth):
    import numpy as np  # Blender's own builds bundle it (Debian's does not: hence plain_pixels)

    encode = mod("pass_png").encode

    width, height = 23, 11
    raw = noisy_pass(width, height, seed=len(kind) * bit_depth)
    for falloff in ("LINEAR", "QUADRATIC", "INVERSE_QUADRATIC") if kind == "mist" else ("QUADRATIC",):
        mist = (5.0, 25.0, falloff)
        plain = encode(kind, raw, width, height, mist, bit_depth)
        numpy = encode(kind, np.frombuffer(raw, dtype=np.float32), width, height, mist, bit_depth)
        assert plain[:33] == numpy[:33]  # signature and IHDR
        dtype = ">u2" if bit_depth == 16 else "u1"
        ours, theirs = (np.frombuffer(samples(png, height), dtype=dtype).astype(int) for png in (plain, numpy))
        assert int(np.abs(ours - theirs).max()) <= 1  # numpy computes depth in float32, plain Python in float64
