"""Server-given output names (issue 15.11): unique, valid on Windows/macOS/Linux, never outside the output folder.

A hostile ComfyUI reports the same file name twice, Windows device names, names hundreds of characters long and
names with trailing dots; every output must land as its own file inside the job's folder.
"""

from __future__ import annotations

import pytest
from genbridge.runtime.errors import UnsafePath
from genbridge.runtime.paths import MAX_NAME_BYTES, safe_output_path, unique_output_paths

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("server_name", "local_name"),
    [
        ("CON", "_CON"),
        ("aux.png", "_aux.png"),
        ("nul.tar.gz", "_nul.tar.gz"),
        ("COM1.mp4", "_COM1.mp4"),
        ("lpt9", "_lpt9"),
        ("Con .png", "_Con .png"),
        ("image.png. . .", "image.png"),
        ("  spaced.png  ", "spaced.png"),
        ('a<b>c:d"e|f?g*h.png', "a_b_c_d_e_f_g_h.png"),
        ("tab\there.png", "tab_here.png"),
        ("console.png", "console.png"),  # only the exact device names are reserved
    ],
)
def test_names_are_made_valid_on_every_system(tmp_path, server_name, local_name):
    assert safe_output_path(tmp_path, "", server_name).name == local_name


@pytest.mark.parametrize("length", [199, 200, 253, 255, 300, 4000])
def test_long_names_are_shortened_keeping_the_extension(tmp_path, length):
    name = "x" * (length - 4) + ".png"
    path = safe_output_path(tmp_path, "", name)
    assert len(path.name.encode()) <= MAX_NAME_BYTES and path.suffix == ".png"
    path.write_bytes(b"ok")  # the file system takes it (no "name too long")


def test_long_multibyte_names_are_cut_on_a_character_boundary(tmp_path):
    path = safe_output_path(tmp_path, "", "é" * 300 + ".webp")
    assert len(path.name.encode()) <= MAX_NAME_BYTES and path.name.endswith("é.webp")
    path.write_bytes(b"ok")


def test_long_folder_names_are_shortened_too(tmp_path):
    path = safe_output_path(tmp_path, "a" * 300 + "/b", "x.png")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"ok")
    assert tmp_path.resolve() in path.parents


def test_same_server_name_twice_gives_two_files(tmp_path):
    paths = unique_output_paths(tmp_path, [("", "img.png"), ("", "img.png"), ("", "IMG.png"), ("sub", "img.png")])
    names = [p.relative_to(tmp_path.resolve()).as_posix() for p in paths]
    assert names == ["img.png", "img-2.png", "IMG-3.png", "sub/img.png"]


def test_unique_names_stay_within_the_length_limit(tmp_path):
    long = "y" * 400 + ".mp4"
    first, second = unique_output_paths(tmp_path, [("", long), ("", long)])
    assert first != second and second.name.endswith("-2.mp4")
    assert len(second.name.encode()) <= MAX_NAME_BYTES


def test_names_that_differ_only_after_cleaning_are_kept_apart(tmp_path):
    first, second = unique_output_paths(tmp_path, [("", "a*b.png"), ("", "a?b.png")])
    assert first.name == "a_b.png" and second.name == "a_b-2.png"


@pytest.mark.parametrize("name", ["..", ".", "", " . ", "a/../../b.png", "C:evil.png", "\\\\srv\\share\\x.png"])
def test_traversal_and_empty_names_are_refused(tmp_path, name):
    with pytest.raises(UnsafePath) as info:
        safe_output_path(tmp_path, "", name)
    assert "server" in info.value.message


def test_an_unsafe_name_among_several_means_none_is_planned(tmp_path):
    with pytest.raises(UnsafePath):
        unique_output_paths(tmp_path, [("", "ok.png"), ("../..", "x.png")])
    assert not list(tmp_path.iterdir())


def test_messages_about_huge_names_stay_readable(tmp_path):
    with pytest.raises(UnsafePath) as info:
        safe_output_path(tmp_path, "", "../" + "z" * 5000)
    assert len(info.value.message) < 400


async def test_comfyui_outputs_with_the_same_name_are_all_kept(tmp_path, guard):
    """Three outputs reported with one name: three files on disk, inside the job folder."""
    from genbridge.backends.comfyui import ComfyUIClient
    from genbridge.backends.comfyui.tracking import Track
    from genbridge.runtime.jobs import Job
    from genbridge.runtime.settings import Endpoint, Settings, Timeouts
    from genbridge.standins.comfyui import ComfyUIStandIn

    async with ComfyUIStandIn(root=tmp_path / "comfy") as server:
        (server.output_dir / "same.png").write_bytes(b"\x89PNG fake")
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            timeouts=Timeouts(connect=1.0, request=2.0, silence=2.0, download=5.0),
        )
        client = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)
        try:
            job = Job(task="image")
            track = Track.new(job.id, {})
            same = {"filename": "same.png", "subfolder": "", "type": "output"}
            track.outputs = {"9": {"images": [same, same]}, "10": {"images": [same]}}
            client._tracks[job.id] = track
            guard.snapshot()
            paths = await client.fetch_outputs(job, tmp_path / "out" / "job")
        finally:
            await client.close()
    assert len(paths) == 3 and len(set(paths)) == 3 and all(p.is_file() for p in paths)
    assert guard.written_outside(tmp_path / "out" / "job") == []


@pytest.mark.parametrize("length", [253, 280, 300])
async def test_comfyui_output_names_of_253_to_300_characters_land_shortened(tmp_path, guard, length):
    """Too long for most file systems as given: the download still lands (shortened), never 'Could not reach'."""
    from aiohttp import web
    from genbridge.backends.comfyui import ComfyUIClient
    from genbridge.backends.comfyui.tracking import Track
    from genbridge.runtime.jobs import Job
    from genbridge.runtime.settings import Endpoint, Settings, Timeouts
    from genbridge.standins.comfyui import ComfyUIStandIn

    class LongNames(ComfyUIStandIn):
        async def h_view(self, request):  # any name: this server keeps its files elsewhere
            return web.Response(body=b"\x89PNG long", content_type="image/png")

    name = "n" * (length - 4) + ".png"
    async with LongNames(root=tmp_path / "comfy") as server:
        settings = Settings(
            output_dir=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            timeouts=Timeouts(connect=1.0, request=2.0, silence=2.0, download=5.0),
        )
        client = ComfyUIClient(Endpoint(service="comfyui", url=server.url), settings)
        try:
            job = Job(task="image")
            track = Track.new(job.id, {})
            track.outputs = {"9": {"images": [{"filename": name, "subfolder": "", "type": "output"}] * 2}}
            client._tracks[job.id] = track
            guard.snapshot()
            paths = await client.fetch_outputs(job, tmp_path / "out" / "job")
        finally:
            await client.close()
    assert len(set(paths)) == 2 and all(p.is_file() and p.suffix == ".png" for p in paths)
    assert all(len(p.name.encode()) <= MAX_NAME_BYTES for p in paths)
    assert guard.written_outside(tmp_path / "out" / "job") == []
