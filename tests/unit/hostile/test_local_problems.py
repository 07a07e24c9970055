"""Problems on this computer (issue 15.9): an output folder that is a file, a full disk, a refused write. Each is a
`LocalProblem` naming the path and the fix, reported before any GPU time is spent where possible, and never a
reason to fall back to another backend (which would fail the same way, or hide the message).
"""

from __future__ import annotations

import errno
import json

import pytest
from genbridge.cli import main
from genbridge.runtime import Runtime
from genbridge.runtime.settings import Settings

pytestmark = pytest.mark.timeout(30)


class RecordingClient:
    """A backend that records what reached it; `fail_fetch` makes fetch_outputs raise that OSError."""

    service = "comfyui"
    submitted: list[str] = []

    def __init__(self, endpoint, settings, fail_fetch: OSError | None = None):
        self.endpoint, self.fail_fetch = endpoint, fail_fetch

    async def validate(self, job):
        return []

    async def submit(self, job):
        RecordingClient.submitted.append(self.endpoint.url)
        return "remote-1"

    async def events(self, job):
        if False:
            yield None

    async def fetch_outputs(self, job, dest):
        if self.fail_fetch is not None:
            raise self.fail_fetch
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "out.png").write_bytes(b"png")
        return [dest / "out.png"]

    async def cancel(self, job):
        pass

    async def close(self):
        pass


def _run_one(tmp_path, output_dir, factory):
    """One image job planned on two ComfyUI servers (so a fallback would be possible); returns the final row."""
    RecordingClient.submitted = []
    settings = Settings(
        output_dir=str(output_dir),
        data_dir=str(tmp_path / "data"),
        comfyui=[{"service": "comfyui", "url": "http://127.0.0.1:9"}, {"service": "comfyui", "url": "http://[::1]:9"}],
    )
    rt = Runtime(settings=lambda: settings, emit=lambda e: None, client_factory=factory, reattach=False)
    try:
        plan = [
            {"service": "comfyui", "instance": "http://127.0.0.1:9", "label": "first"},
            {"service": "comfyui", "instance": "http://[::1]:9", "label": "second"},
        ]
        return rt.submit({"task": "image", "requested_service": "comfyui", "plan": plan}).done.result(timeout=10)
    finally:
        rt.shutdown()


def test_an_output_folder_that_is_a_file_fails_before_sending_and_never_falls_back(tmp_path, guard):
    blocker = tmp_path / "outputs"
    blocker.write_text("I am a file")
    final = _run_one(tmp_path, blocker, RecordingClient)
    assert final["state"] == "failed" and final["error"]["code"] == "local"
    assert f"{blocker} is a file, not a folder" in final["error"]["message"]
    assert "Output Folder" in final["error"]["hint"]
    assert RecordingClient.submitted == [], "nothing was sent: no GPU time spent on a job that cannot be saved"
    assert blocker.read_text() == "I am a file"


def test_an_output_folder_below_a_file_is_reported_with_the_file(tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("x")
    final = _run_one(tmp_path, blocker / "deeper" / "still", RecordingClient)
    assert final["error"]["code"] == "local" and str(blocker) in final["error"]["message"]


@pytest.mark.parametrize(
    ("err", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/out/x.png"), "no space left on the disk"),
        (OSError(errno.ENAMETOOLONG, "File name too long", "/out/" + "n" * 300), "too long"),
        (PermissionError(errno.EACCES, "Permission denied", "/out/x.png"), "permission was denied"),
        (OSError(errno.EROFS, "Read-only file system", "/out/x.png"), "read-only"),
    ],
)
def test_a_failing_write_is_a_local_problem_without_fallback(tmp_path, err, words):
    final = _run_one(tmp_path, tmp_path / "out", lambda ep, s: RecordingClient(ep, s, fail_fetch=err))
    assert final["state"] == "failed" and final["error"]["code"] == "local", final["error"]
    assert words in final["error"]["message"] and "Could not reach" not in final["error"]["message"]
    assert RecordingClient.submitted == ["http://127.0.0.1:9"], "the second server was never tried"


def test_generate_with_an_output_folder_that_is_a_file_says_so(tmp_path, capsys, monkeypatch, guard):
    """End to end through the command line and the ComfyUI stand-in."""
    from genbridge.standins.comfyui import ComfyUIStandIn

    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    flow = tmp_path / "flow.json"
    flow.write_text(
        json.dumps(
            {
                "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
                "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
            }
        )
    )
    with ComfyUIStandIn(root=tmp_path / "comfy").running_in_thread() as server:
        guard.snapshot()
        code = main(
            ["generate", "--service", "comfyui", "--workflow", str(flow), "--url", server.url, "--output", str(blocker)]
        )
    _, err = capsys.readouterr()
    assert code == 1 and "is a file, not a folder" in err and "Traceback" not in err
    assert guard.written_outside(tmp_path / "data", tmp_path / "comfy") == []


def test_an_output_folder_path_too_long_for_the_system_is_named_short(tmp_path):
    final = _run_one(tmp_path, tmp_path / ("x" * 5000), RecordingClient)
    assert final["error"]["code"] == "local" and "too long" in final["error"]["message"]
    assert len(final["error"]["message"]) < 600 and "Output folder" in final["error"]["hint"]
    assert RecordingClient.submitted == []
