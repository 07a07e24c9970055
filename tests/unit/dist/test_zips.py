"""Each built platform zip: its manifest, its wheels (both Pythons, nothing foreign), and nothing that is not add-on."""

from __future__ import annotations

import hashlib
import tomllib
import zipfile

import pytest

PLATFORMS = ("windows-x64", "macos-arm64", "macos-x64", "linux-x64")
# Wheel platform tag fragments that are acceptable for each Blender platform.
TAG_OK = {
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("_arm64", "_universal2"),
    "macos-x64": ("_x86_64", "_universal2", "_intel"),
    "linux-x64": ("linux_x86_64", "manylinux1_x86_64", "manylinux2014_x86_64"),
}


def zip_for(built, platform):
    name = next(n for n in built["zips"] if n.endswith(f"-{platform.replace('-', '_')}.zip"))
    return built["zips"][name]


def read_manifest(path):
    with zipfile.ZipFile(path) as zf:
        return tomllib.loads(zf.read("blender_manifest.toml").decode())


def wheel_names(path):
    with zipfile.ZipFile(path) as zf:
        return sorted(n for n in zf.namelist() if n.endswith(".whl"))


def test_build_writes_exactly_one_zip_per_platform(built):
    suffixes = sorted(name.rsplit("-", 1)[-1] for name in built["zips"])
    assert suffixes == sorted(f"{p.replace('-', '_')}.zip" for p in PLATFORMS)


def test_build_reports_the_size_of_every_zip(built):
    for name in built["zips"]:
        assert f"{name}: " in built["stdout"] and " MB, 22 wheels" in built["stdout"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_manifest_declares_only_its_platform(built, platform):
    manifest = read_manifest(zip_for(built, platform))
    assert manifest["id"] == "genbridge"
    assert manifest["build"]["generated"]["platforms"] == [platform]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_manifest_wheels_list_matches_the_wheels_inside(built, platform):
    path = zip_for(built, platform)
    listed = sorted(w.removeprefix("./") for w in read_manifest(path)["build"]["generated"]["wheels"])
    assert listed == wheel_names(path)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_bundles_every_pinned_package_for_cpython_311_and_313(built, platform, spec):
    wheels = [n.rsplit("/", 1)[-1] for n in wheel_names(zip_for(built, platform))]
    for package, version in spec.PINS.items():
        mine = [w for w in wheels if spec.normalize(w.split("-")[0]) == package]
        assert mine, f"{package} missing from the {platform} zip"
        assert all(w.split("-")[1] == version for w in mine), mine
        python_tags = {w.split("-")[-3] for w in mine}
        if python_tags == {"py3"}:
            assert len(mine) == 1, f"one pure-Python wheel serves every Python: {mine}"
        else:
            assert python_tags == {"cp311", "cp313"}, f"{package} on {platform}: {mine}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_holds_no_wheel_for_another_platform(built, platform):
    for wheel in wheel_names(zip_for(built, platform)):
        tag = wheel[:-4].split("-")[-1]
        assert tag == "any" or any(ok in tag for ok in TAG_OK[platform]), f"{wheel} in the {platform} zip"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_wheels_match_the_locked_sha256(built, platform, spec):
    locked = {w.file: w.sha256 for w in spec.read_lock()}
    with zipfile.ZipFile(zip_for(built, platform)) as zf:
        for name in (n for n in zf.namelist() if n.endswith(".whl")):
            assert hashlib.sha256(zf.read(name)).hexdigest() == locked[name.rsplit("/", 1)[-1]]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_zip_holds_no_tests_bench_standins_tools_or_dot_files(built, platform):
    with zipfile.ZipFile(zip_for(built, platform)) as zf:
        names = zf.namelist()
    banned_roots = {"tests", "bench", "standins", "tools", "dist", "build", "Makefile", "wheels.lock", "pyproject.toml"}
    for name in names:
        parts = name.split("/")
        assert parts[0] not in banned_roots, name
        assert not any(p.startswith(".") for p in parts), name
        assert "__pycache__" not in parts and not name.endswith((".pyc", ".zip")), name
    assert "__init__.py" in names and "blender_manifest.toml" in names
    assert any(n.startswith("runtime/") for n in names)


def test_build_leaves_the_committed_manifest_unchanged(built):
    assert built["manifest_after"] == built["manifest_before"]
    assert b"wheels" not in built["manifest_after"].split(b"[build]")[0]
