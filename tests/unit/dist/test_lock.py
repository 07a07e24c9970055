"""wheels.lock: complete for every target, consistent with pyproject, and enforced by the build."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def test_lock_has_one_wheel_per_package_for_every_platform_and_python(spec):
    lock = spec.read_lock()
    for platform in spec.PLATFORMS:
        for python in spec.PYTHONS:
            packages = [w.package for w in lock if platform in w.platforms and python in w.pythons]
            assert sorted(packages) == sorted(spec.PINS), (platform, python)


def test_lock_versions_are_the_pins(spec):
    for wheel in spec.read_lock():
        assert spec.PINS[wheel.package] == wheel.version
        assert wheel.file.startswith(wheel.package.replace("-", "_") + "-" + wheel.version + "-")
        assert len(wheel.sha256) == 64


def test_bundled_top_level_pins_match_pyproject(spec):
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in deps:
        name, version = line.split("==")
        assert spec.PINS[spec.normalize(name)] == version.strip(), line


def test_build_fails_loudly_on_a_cached_wheel_with_the_wrong_hash(spec, builder, tmp_path):
    wheel = spec.read_lock()[0]
    (tmp_path / wheel.file).write_bytes(b"not the real wheel")
    with pytest.raises(builder.BuildError, match="do not match the sha256"):
        builder.ensure_wheels([wheel], tmp_path, offline=True)


def test_build_fails_loudly_on_a_missing_wheel_when_offline(spec, builder, tmp_path):
    wheel = spec.read_lock()[0]
    with pytest.raises(builder.BuildError, match=wheel.file):
        builder.ensure_wheels([wheel], tmp_path, offline=True)


def test_build_refuses_a_lock_entry_pypi_cannot_supply(spec, builder, tmp_path, monkeypatch):
    wheel = spec.read_lock()[0]
    fake = spec.LockedWheel(
        wheel.package, wheel.version, wheel.file.replace(".whl", "-x.whl"), wheel.sha256, wheel.platforms, wheel.pythons
    )
    monkeypatch.setattr(spec, "pip_download_many", lambda targets, root, workers=4: [])
    with pytest.raises(builder.BuildError, match="did not produce"):
        builder.ensure_wheels([fake], tmp_path)


def test_staged_manifest_gets_wheels_and_platforms_and_keeps_the_exclude_pattern(builder, tmp_path):
    source = (REPO / "blender_manifest.toml").read_text()
    text = builder.set_top_level_array(source, "platforms", ["linux-x64"])
    text = builder.set_top_level_array(text, "wheels", ["./wheels/a-1-py3-none-any.whl"])
    staged, original = tomllib.loads(text), tomllib.loads(source)
    assert staged["platforms"] == ["linux-x64"] and staged["wheels"] == ["./wheels/a-1-py3-none-any.whl"]
    assert staged["build"]["paths_exclude_pattern"] == original["build"]["paths_exclude_pattern"]
    assert {k: v for k, v in staged.items() if k not in ("platforms", "wheels")} == original


def test_staged_manifest_replaces_existing_wheels_and_platforms(builder):
    text = 'id = "x"\nplatforms = ["windows-x64"]\nwheels = [\n  "./wheels/old-1-py3-none-any.whl",\n]\n[build]\n'
    text = builder.set_top_level_array(text, "platforms", ["linux-x64"])
    text = builder.set_top_level_array(text, "wheels", [])
    assert tomllib.loads(text) == {"id": "x", "platforms": ["linux-x64"], "wheels": [], "build": {}}
