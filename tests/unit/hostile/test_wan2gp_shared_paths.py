"""Hostile WanGP servers naming local files as outputs: nothing but the server's own media is ever copied.

A server on this machine names its outputs by absolute path. These servers name secrets (`~/.ssh/id_rsa`,
`/proc/self/environ`), links out of their output folder, and non-media files; the client must download the real
output through a ticket instead and never copy the named file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from genbridge.backends.wan2gp import Wan2GPClient
from genbridge.runtime import Runtime
from genbridge.runtime.jobs import Job
from genbridge.runtime.settings import Endpoint, Settings
from genbridge.standins.wan2gp import Wan2GPStandIn

SECRET = "sk-genbridge-hostile-SECRET-4711"


def _secret_home(tmp_path: Path) -> Path:
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_rsa").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n")
    return ssh / "id_rsa"


def _lie_about_outputs(server: Wan2GPStandIn, path: str, *, also_in_gallery: bool = True) -> None:
    """After each generation, name `path` as the output (and as the gallery record's path, as a liar would)."""
    original = server._finish

    def finish(job, *, files=None, error=None):
        original(job, files=files, error=error)
        if job.result and job.result.get("success"):
            job.result["generated_files"] = [path]
            if also_in_gallery:
                for item in job.result["gallery_items"]:
                    item["path"] = path

    server._finish = finish  # type: ignore[method-assign]


def _client(url: str, tmp_path: Path) -> Wan2GPClient:
    settings = Settings(output_dir=str(tmp_path / "out"), data_dir=str(tmp_path / "data"))
    client = Wan2GPClient(Endpoint(service="wan2gp", url=url, key=SECRET), settings)
    client.poll_interval = (0.02, 0.1)
    return client


async def _run(client: Wan2GPClient, dest: Path) -> list[Path]:
    job = Job(task="video", inputs={"model": "t2v", "prompt": "a paper boat", "steps": 2, "frames": 17})
    assert await client.validate(job) == []
    await client.submit(job)
    async for _ in client.events(job):
        pass
    return await client.fetch_outputs(job, dest)


async def _outputs_from_liar(
    tmp_path: Path, named: str | None, *, contract: str = "v1", also_in_gallery: bool = True
) -> tuple[list[Path], Wan2GPStandIn]:
    """One video job against a stand-in that names `named` as its output (None: an honest server)."""
    server = Wan2GPStandIn(contract=contract, output_dir=tmp_path / "wan2gp", step_delay=0.0)
    if named is not None:
        _lie_about_outputs(server, named, also_in_gallery=also_in_gallery)
    await server.start()
    client = _client(server.url, tmp_path)
    try:
        return await _run(client, tmp_path / "out"), server
    finally:
        await client.close()
        await server.stop()


def _assert_nothing_leaked(root: Path, named: Path | None = None) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, f"secret copied into {path}"
            assert b"OPENSSH PRIVATE KEY" not in data and b"PATH=" not in data, f"local file copied into {path}"


def _ticket_downloads(server: Wan2GPStandIn) -> int:
    return sum(1 for name, args in server.calls if "create_gallery_download" in (name + str(args.get("action") or "")))


@pytest.mark.parametrize("contract", ["v1", "v1-late", "v2"])
async def test_a_private_key_named_as_output_is_not_copied_the_real_output_comes_by_ticket(contract, tmp_path):
    secret = _secret_home(tmp_path)
    outputs, server = await _outputs_from_liar(tmp_path, str(secret), contract=contract)
    assert len(outputs) == 1 and outputs[0].read_bytes()[4:8] == b"ftyp"
    assert outputs[0].name != "id_rsa" and _ticket_downloads(server) == 1
    _assert_nothing_leaked(tmp_path / "out")


async def test_proc_self_environ_named_as_output_is_not_copied(tmp_path):
    outputs, server = await _outputs_from_liar(tmp_path, "/proc/self/environ")
    assert [p.suffix for p in outputs] == [".mp4"] and _ticket_downloads(server) == 1
    _assert_nothing_leaked(tmp_path / "out")


async def test_a_link_inside_the_output_folder_pointing_out_of_it_is_not_followed(tmp_path):
    secret = _secret_home(tmp_path)
    (tmp_path / "wan2gp").mkdir()
    link = tmp_path / "wan2gp" / "2026-11-30-12h00m00s_seed1_abc.mp4"
    os.symlink(secret, link)
    outputs, server = await _outputs_from_liar(tmp_path, str(link))
    assert outputs[0].read_bytes()[4:8] == b"ftyp" and _ticket_downloads(server) == 1
    _assert_nothing_leaked(tmp_path / "out")


async def test_a_non_media_file_with_a_video_name_in_the_output_folder_is_not_copied(tmp_path):
    (tmp_path / "wan2gp").mkdir()
    fake = tmp_path / "wan2gp" / "notes.mp4"
    fake.write_text(f"PATH=/usr/bin\nKEY={SECRET}\n")
    outputs, server = await _outputs_from_liar(tmp_path, str(fake))
    assert outputs[0].read_bytes()[4:8] == b"ftyp" and _ticket_downloads(server) == 1
    _assert_nothing_leaked(tmp_path / "out")


async def test_a_file_outside_the_declared_folder_is_not_copied_even_when_it_is_a_real_video(tmp_path):
    elsewhere = tmp_path / "private" / "holiday.mp4"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"private video")
    # The gallery still names the real file; only `generated_files` lies.
    outputs, server = await _outputs_from_liar(tmp_path, str(elsewhere), also_in_gallery=False)
    assert b"private video" not in outputs[0].read_bytes() and _ticket_downloads(server) == 1


async def test_the_servers_own_output_is_still_copied_from_the_shared_disk(tmp_path):
    outputs, server = await _outputs_from_liar(tmp_path, None)
    assert outputs[0].read_bytes()[4:8] == b"ftyp" and _ticket_downloads(server) == 0


def test_through_the_job_service_the_secret_reaches_neither_outputs_nor_journal(tmp_path):
    secret = _secret_home(tmp_path)
    server = Wan2GPStandIn(contract="v1", output_dir=tmp_path / "wan2gp", step_delay=0.0)
    _lie_about_outputs(server, str(secret))
    with server.run_in_thread() as url:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            wan2gp=[Endpoint(service="wan2gp", url=url, key=SECRET)],
        )
        events: list[object] = []
        runtime = Runtime(settings=lambda: settings, emit=events.append)
        handle = runtime.submit(
            {
                "task": "video",
                "requested_service": "wan2gp",
                "inputs": {"model": "t2v", "prompt": "boat", "steps": 2, "frames": 17},
            }
        )
        final = handle.done.result(timeout=30)
        assert runtime.shutdown(2.0)
    assert final["state"] == "done", final
    assert all(Path(p).read_bytes()[4:8] == b"ftyp" for p in final["outputs"])
    _assert_nothing_leaked(tmp_path / "out")
    _assert_nothing_leaked(tmp_path / "data")
    assert SECRET not in repr(events) and "id_rsa" not in repr(final)
