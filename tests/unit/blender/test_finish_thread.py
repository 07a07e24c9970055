"""The worker thread that encodes and writes a pass's PNG for the GUI's capture run: it writes the one file unless
discarded, a discard leaves no file (before or after the write), and its error is handed to the main thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from genbridge.blender.finish_thread import FinishThread

WAIT_S = 30  # a bound on waiting for the thread, not a timing assertion


class Finishing:
    """The shape of `capture_common.Finishing` (that module needs bpy)."""

    def __init__(self, path: Path, encode, record: dict | None = None) -> None:
        self.path, self.encode, self.record = path, encode, record or {"path": str(path)}


def test_the_file_is_written_and_the_record_handed_back(tmp_path):
    thread = FinishThread(Finishing(tmp_path / "pass.png", lambda: b"png"), "image-depth")
    assert thread.join(WAIT_S)
    assert (tmp_path / "pass.png").read_bytes() == b"png"
    assert thread.outcome() == {"path": str(tmp_path / "pass.png")}


def test_a_discard_while_encoding_means_no_file(tmp_path):
    gate = threading.Event()

    def slow() -> bytes:
        gate.wait(WAIT_S)
        return b"png"

    thread = FinishThread(Finishing(tmp_path / "pass.png", slow), "image-depth")
    thread.discard()
    gate.set()
    assert thread.join(WAIT_S)
    assert not (tmp_path / "pass.png").exists()


def test_a_discard_after_the_write_removes_the_file(tmp_path):
    thread = FinishThread(Finishing(tmp_path / "pass.png", lambda: b"png"), "image-depth")
    assert thread.join(WAIT_S) and (tmp_path / "pass.png").exists()
    thread.discard()
    assert not (tmp_path / "pass.png").exists()


def test_an_encoding_error_comes_back_from_outcome(tmp_path):
    def broken() -> bytes:
        raise ValueError("cannot convert float NaN to integer")

    thread = FinishThread(Finishing(tmp_path / "pass.png", broken), "image-depth")
    assert thread.join(WAIT_S)
    with pytest.raises(ValueError, match="NaN"):
        thread.outcome()
    assert not (tmp_path / "pass.png").exists()


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "gone" / "pass.png"  # its folder does not exist: the write fails
    thread = FinishThread(Finishing(target, lambda: b"png"), "image-depth")
    assert thread.join(WAIT_S)
    with pytest.raises(FileNotFoundError):
        thread.outcome()
    assert not target.exists()


def test_the_thread_is_a_named_daemon_not_the_loop_thread(tmp_path):
    seen: list[threading.Thread] = []

    def encode() -> bytes:
        seen.append(threading.current_thread())
        return b"png"

    FinishThread(Finishing(tmp_path / "pass.png", encode), "image-depth").join(WAIT_S)
    (worker,) = seen
    assert worker.daemon and worker.name == "genbridge-finish-image-depth" and worker is not threading.main_thread()
