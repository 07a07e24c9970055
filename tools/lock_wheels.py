"""Regenerate wheels.lock: download every pinned runtime wheel for every target and record its sha256.

Run with a Python that has pip (the dev venv): `python tools/lock_wheels.py`. Needs PyPI. Fails if a pinned
package has no wheel for a target, or if a wheel needs a dependency that is not pinned (closure check).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

import wheel_spec as spec
from wheel_spec import PINS, PLATFORMS, PYTHONS, LockedWheel, normalize, sha256_of

try:
    from packaging.markers import Marker
    from packaging.requirements import Requirement
except ImportError:  # pip vendors packaging; good enough for a dev tool
    from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]

# Marker environment per Blender platform, for the dependency-closure check.
_ENV_KEYS = ("sys_platform", "platform_system", "platform_machine", "os_name")
MARKER_ENV = {
    "windows-x64": dict(zip(_ENV_KEYS, ("win32", "Windows", "AMD64", "nt"), strict=True)),
    "macos-arm64": dict(zip(_ENV_KEYS, ("darwin", "Darwin", "arm64", "posix"), strict=True)),
    "macos-x64": dict(zip(_ENV_KEYS, ("darwin", "Darwin", "x86_64", "posix"), strict=True)),
    "linux-x64": dict(zip(_ENV_KEYS, ("linux", "Linux", "x86_64", "posix"), strict=True)),
}


def wheel_metadata(path: Path) -> tuple[str, str, list[str]]:
    """(name, version, Requires-Dist lines) from a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    return meta["Name"], meta["Version"], meta.get_all("Requires-Dist") or []


def check_closure(platform: str, python: str, files: dict[str, Path]) -> list[str]:
    """Every Requires-Dist (without extras) of every wheel must be pinned, at a version its specifier accepts."""
    env = {
        **MARKER_ENV[platform],
        "python_version": python,
        "python_full_version": python + ".0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    problems = []
    for package, path in files.items():
        for line in wheel_metadata(path)[2]:
            req = Requirement(line)
            if req.marker is not None and not Marker(str(req.marker)).evaluate(env):
                continue
            pinned = PINS.get(normalize(req.name))
            if pinned is None:
                problems.append(f"{package} needs {req} on {platform}/{python}, which is not pinned in wheel_spec.PINS")
            elif not req.specifier.contains(pinned, prereleases=True):
                problems.append(f"{package} needs {req} but {normalize(req.name)}=={pinned} is pinned")
    return problems


def lock(download_root: Path) -> list[LockedWheel]:
    entries: dict[str, dict] = {}
    problems: list[str] = []
    targets = {(platform, python): PINS for platform in PLATFORMS for python in PYTHONS}
    print(f"downloading {len(PINS)} pinned packages for {len(targets)} platform/Python targets ...", flush=True)
    errors = spec.pip_download_many(targets, download_root)
    if errors:
        sys.exit("\n".join(errors))
    for platform in PLATFORMS:
        for python in PYTHONS:
            dest = download_root / f"{platform}-{python}"
            files: dict[str, Path] = {}
            for path in sorted(dest.glob("*.whl")):
                name, version, _ = wheel_metadata(path)
                package = normalize(name)
                if package in files:
                    problems.append(
                        f"two wheels for {package} on {platform}/{python}: {files[package].name} {path.name}"
                    )
                if PINS.get(package) != version:
                    problems.append(f"{path.name}: {package} {version} is not the pinned version {PINS.get(package)}")
                files[package] = path
            missing = sorted(set(PINS) - set(files))
            if missing:
                problems.append(f"no wheel for {', '.join(missing)} on {platform}/CPython {python}")
            problems += check_closure(platform, python, files)
            for package, path in files.items():
                entry = entries.setdefault(
                    path.name,
                    {"package": package, "version": PINS[package], "sha256": sha256_of(path), "targets": set()},
                )
                if entry["sha256"] != sha256_of(path):
                    problems.append(f"{path.name} downloaded twice with different contents")
                entry["targets"].add((platform, python))
    if problems:
        sys.exit("wheels.lock NOT written:\n  " + "\n  ".join(problems))
    return [
        LockedWheel(
            package=e["package"],
            version=e["version"],
            file=file,
            sha256=e["sha256"],
            platforms=tuple(p for p in PLATFORMS if any(t[0] == p for t in e["targets"])),
            pythons=tuple(v for v in PYTHONS if any(t[1] == v for t in e["targets"])),
        )
        for file, e in entries.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=spec.LOCK_PATH, help="lock file to write (default: wheels.lock)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="genbridge-lock-") as tmp:
        wheels = lock(Path(tmp))
    spec.write_lock(wheels, args.output)
    targets = f"{len(PLATFORMS)} platforms x CPython {', '.join(PYTHONS)}"
    print(f"wrote {args.output} with {len(wheels)} wheels for {targets}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
