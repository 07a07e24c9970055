"""A damaged or hostile journal (issue 15.6): read line by line as bytes, damaged lines skipped and reported by
number and reason (never quoted), memory bounded, and the journal can never stop a job from running."""

from __future__ import annotations

import asyncio
import json
import logging
import tracemalloc
from pathlib import Path

import pytest
from genbridge.runtime.jobs import Job, JobState
from genbridge.runtime.journal import Journal
from genbridge.runtime.service import JobService
from genbridge.runtime.settings import Endpoint, Settings

SECRET = "sk-journal-secret-7f3a"
URL = "http://127.0.0.1:9"


def good_line(**fields) -> bytes:
    return json.dumps({"t": 1, "job": Job(task="image", **fields).snapshot()}).encode() + b"\n"


def test_damaged_lines_are_skipped_and_reported_by_number_and_reason_only(tmp_path, caplog):
    path = tmp_path / "journal.jsonl"
    first, last = good_line(state=JobState.INTERRUPTED), good_line(state=JobState.DONE)
    path.write_bytes(
        first
        + b'{"t": 1, "job": {"id": "'
        + SECRET.encode()
        + b'\xff\xfe"}}\n'  # invalid UTF-8
        + b"this is not JSON "
        + SECRET.encode()
        + b"\n"
        + b"[" * 200_000
        + b"\n"  # nested 200,000 deep
        + b'{"t": 1, "job": 5}\n'  # JSON, but not a job record
        + b'{"t": 1, "job": {"id": "x", "inputs": "'
        + SECRET.encode() * 20_000
        + b'"}}\n'  # longer than the cap
        + last
        + b'{"t": 1, "job": {"id": "'
        + SECRET.encode()  # torn by a crash
    )
    journal = Journal(path, max_line_bytes=256 * 1024)
    with caplog.at_level(logging.DEBUG, logger="genbridge"):
        latest = journal.latest()
    assert set(latest) == {json.loads(first)["job"]["id"], json.loads(last)["job"]["id"]}
    assert journal.problems == [
        "line 2: not valid UTF-8",
        "line 3: not JSON (cut off by a crash, or damaged)",
        "line 4: nested more than 64 levels deep",
        "line 5: not a job record",
        "line 6: longer than 256 KB",
        "line 8: not JSON (cut off by a crash, or damaged)",
    ]
    assert "7 damaged line" not in caplog.text and "6 damaged line(s) skipped" in caplog.text
    assert SECRET not in caplog.text and SECRET not in " ".join(journal.problems)


def test_a_record_nested_deep_but_within_the_parser_limit_is_refused_too(tmp_path):
    path = tmp_path / "journal.jsonl"
    snap = Job(task="image", state=JobState.INTERRUPTED).snapshot()
    deep: dict = {}
    for _ in range(300):
        deep = {"d": deep}
    snap["inputs"] = {"x": deep}
    path.write_text(json.dumps({"t": 1, "job": snap}) + "\n")
    journal = Journal(path)
    assert journal.latest() == {}
    assert journal.problems == ["a job record: nested more than 64 levels deep"]


def test_a_256_mb_single_line_journal_is_never_read_whole(tmp_path):
    path = tmp_path / "journal.jsonl"
    with path.open("wb") as fh:
        fh.truncate(256 * 1024 * 1024)  # one 256 MB line (sparse: no disk used)
    with path.open("ab") as fh:
        fh.write(b"\n" + good_line(state=JobState.INTERRUPTED))
    journal = Journal(path)
    tracemalloc.start()
    try:
        latest = journal.latest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(latest) == 1, "the good line after it is still read"
    assert journal.problems == ["line 1: longer than 4 MB"]
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB"


def run_one_job(settings: Settings, journal: Journal, scripted) -> dict:
    async def main() -> dict:
        service = JobService(settings, lambda e: None, journal, client_factory=lambda ep, s: scripted(ep, s))
        service.reattach_journaled()
        job = Job(task="image", requested_service="comfyui")
        service.submit(job)
        await asyncio.wait_for(service._tasks[job.id], 10)
        return job.snapshot()

    return asyncio.run(main())


@pytest.fixture
def scripted():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "journal_hostile_scripted", Path(__file__).parents[1] / "runtime" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ScriptedClient


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        output_dir=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        comfyui=[Endpoint(service="comfyui", url=URL)],
    )


def test_a_journal_that_cannot_be_written_never_stops_a_job(tmp_path, scripted, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal's folder should be")
    journal = Journal(blocker / "journal.jsonl")
    with caplog.at_level(logging.ERROR, logger="genbridge.journal"):
        final = run_one_job(settings_for(tmp_path), journal, scripted)
    assert final["state"] == "done"
    assert journal.write_failures >= 4
    errors = [r for r in caplog.records if "could not write" in r.getMessage()]
    assert len(errors) == 1, "said once, not on every state change"
    assert "jobs keep running" in errors[0].getMessage()


def test_an_invalid_utf8_journal_past_its_compaction_size_still_runs_new_jobs(tmp_path, scripted):
    settings = settings_for(tmp_path)
    path = settings.data_path / "journal.jsonl"
    path.parent.mkdir(parents=True)
    with path.open("wb") as fh:
        fh.write(b"\xff\xfe broken \xc3\x28\n")
        line = good_line(state=JobState.DONE)
        for _ in range(9 * 1024 * 1024 // len(line) + 1):
            fh.write(line)
    final = run_one_job(settings, Journal(path), scripted)
    assert final["state"] == "done"
    assert path.stat().st_size < 1024 * 1024, "compacted on the way"
    assert Journal(path).latest()[final["id"]]["state"] == "done"


def test_generate_with_a_timeout_returns_despite_a_damaged_oversized_journal(tmp_path, monkeypatch, capsys):
    from genbridge.cli import main
    from genbridge.standins.comfyui import ComfyUIStandIn

    data = tmp_path / "data"
    data.mkdir()
    with (data / "journal.jsonl").open("wb") as fh:
        line = good_line(state=JobState.DONE)
        for i in range(9 * 1024 * 1024 // len(line) + 1):
            fh.write(b"\xff\xfe\n" if i % 1000 == 0 else line)
    workflow = tmp_path / "flow.json"
    workflow.write_text(
        json.dumps(
            {
                "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
                "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "h/img"}},
            }
        )
    )
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(data))
    monkeypatch.setenv("GENBRIDGE_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.delenv("GENBRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with ComfyUIStandIn(root=tmp_path / "comfy", node_delay=0.01).running_in_thread() as server:
        code = main(
            ["generate", "--service", "comfyui", "--workflow", str(workflow), "--url", server.url, "--timeout", "15"]
        )
    out = capsys.readouterr()
    assert code == 0, out.err
    (printed,) = out.out.split()
    assert Path(printed).is_file() and (tmp_path / "out") in Path(printed).parents
    assert "UnicodeDecodeError" not in out.err


def test_a_timeout_returns_even_when_the_cancel_never_lands(tmp_path, scripted, monkeypatch):
    from genbridge.cli import _headless

    class StuckCancel(scripted):
        async def cancel(self, job):
            await asyncio.Event().wait()  # a server that never confirms

    monkeypatch.setattr(_headless, "CANCEL_GRACE_S", 0.3)
    settings = settings_for(tmp_path)
    [final] = _headless.run_jobs(
        [{"task": "image", "requested_service": "comfyui"}],
        settings,
        None,
        timeout=0.2,
        client_factory=lambda ep, s: StuckCancel(ep, s, hang=True),
    )
    assert final["state"] == "failed"
    assert final["error"]["message"].startswith("The job did not finish within the 0.2 s timeout")


def test_a_runtime_with_re_attach_on_starts_and_probes_despite_invalid_utf8(tmp_path, scripted):
    from genbridge.runtime import Runtime

    settings = settings_for(tmp_path)
    path = settings.data_path / "journal.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe" + SECRET.encode() + b"\n" + good_line(state=JobState.DONE))
    runtime = Runtime(settings=lambda: settings, emit=lambda e: None, client_factory=lambda ep, s: scripted(ep, s))
    try:
        assert runtime.resume()
        results = runtime.run(lambda service: service.probe_all()).result(10)
        assert results and all(r.reachable for r in results)
        problems = runtime.run(_problems).result(10)
        assert problems == ["line 1: not valid UTF-8"]
    finally:
        assert runtime.shutdown(2.0)


async def _problems(service) -> list[str]:
    return list(service.journal.problems)


def test_resume_names_the_damaged_lines_without_quoting_them(tmp_path, monkeypatch, capsys):
    from genbridge.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "journal.jsonl").write_bytes(b"not json " + SECRET.encode() + b"\n" + good_line(state=JobState.DONE))
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(data))
    monkeypatch.setenv("GENBRIDGE_COMFYUI_URLS", URL)
    monkeypatch.delenv("GENBRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["resume"]) == 0
    err = capsys.readouterr().err
    assert "has damaged lines, skipped: line 1: not JSON" in err
    assert SECRET not in err


def test_what_the_journal_keeps_in_memory_is_bounded(tmp_path):
    path = tmp_path / "journal.jsonl"
    with path.open("wb") as fh:
        for i in range(60):  # 3 MB of finished jobs, then 3 MB of unfinished ones
            state = JobState.DONE if i < 30 else JobState.INTERRUPTED
            fh.write(good_line(state=state, text="t" * 100_000))
    journal = Journal(path, max_line_bytes=256 * 1024, max_kept_bytes=1024 * 1024, keep_finished=100)
    latest = journal.latest()
    assert journal._kept_bytes <= 1024 * 1024
    assert all(j["state"] == "interrupted" for j in latest.values()), "finished jobs go first"
    assert 0 < len(latest) <= 10
    assert "an old unfinished job was dropped" in journal.problems[0]


def test_a_write_that_fails_midway_does_not_swallow_the_next_line(tmp_path, monkeypatch):
    import os as _os

    journal = Journal(tmp_path / "journal.jsonl")
    first, second, third = (Job(task="image", state=JobState.INTERRUPTED).snapshot() for _ in range(3))
    journal.append(first)
    real_write, calls = _os.write, []

    def disk_full_after_10_bytes(fd, data):
        calls.append(1)
        if len(calls) == 1:
            real_write(fd, bytes(data[:10]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr("genbridge.runtime.journal.os.write", disk_full_after_10_bytes)
    journal.append(second)  # torn: 10 bytes land, then the disk is full
    journal.append(third)
    latest = Journal(journal.path).latest()
    assert set(latest) == {first["id"], third["id"]}
