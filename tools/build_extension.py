"""Build the GenBridge extension zips, one per platform, with the pinned runtime wheels bundled.

    python tools/build_extension.py [--platform linux-x64 ...] [--output-dir dist]

Steps: fetch the wheels listed in wheels.lock into wheels/ (cached; every file checked against its sha256, the
build stops on a missing or mismatched wheel), stage a copy of the add-on with `wheels` and `platforms` written
into the staged manifest (the committed blender_manifest.toml is never changed), validate it with Blender's own
extension tool, build with `--split-platforms`, validate each zip and print its size.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path

import wheel_spec as spec
from wheel_spec import PLATFORMS, LockedWheel, sha256_of

MANIFEST = "blender_manifest.toml"
# Never copied into the staging dir (beyond what paths_exclude_pattern drops from the zip): big or machine-local.
STAGE_SKIP_DIRS = {".git", ".venvs", "wheels", "dist", "build", "__pycache__", "node_modules"}


class BuildError(Exception):
    """A build step failed; the message says what to do."""


# -- Blender's extension tool --------------------------------------------------------------------------------------
def find_blender_ext(explicit: str | None = None) -> Path:
    """Locate `blender_ext.py` in an installed bpy wheel (it runs on plain python3)."""
    candidates: list[Path] = []
    if explicit or os.environ.get("GENBRIDGE_BLENDER_EXT"):
        candidates.append(Path(explicit or os.environ["GENBRIDGE_BLENDER_EXT"]))
    spec_bpy = importlib.util.find_spec("bpy")  # does not import bpy
    roots = [Path(spec_bpy.origin).parent] if spec_bpy and spec_bpy.origin else []
    roots += sorted(spec.REPO.glob(".venvs/*/lib/python3*/site-packages/bpy"))  # what ./dev setup installs
    for root in roots:
        candidates += sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise BuildError(
        "Blender's extension tool (blender_ext.py) was not found: install bpy (e.g. `pip install bpy==4.5.15` in "
        ".venvs/bpy-only) or pass --blender-ext PATH / set GENBRIDGE_BLENDER_EXT"
    )


def run_blender_ext(tool: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed (rc={result.returncode}):\n{output}")
    return output


# -- wheels ---------------------------------------------------------------------------------------------------------
def wheels_for(platforms: Iterable[str], lock: list[LockedWheel]) -> list[LockedWheel]:
    wanted = set(platforms)
    return [w for w in lock if wanted & set(w.platforms)]


def ensure_wheels(wheels: list[LockedWheel], cache: Path, *, offline: bool = False) -> None:
    """Make `cache` hold every wheel with its locked sha256; download what is missing. Raises BuildError."""
    cache.mkdir(parents=True, exist_ok=True)
    mismatched = [w.file for w in wheels if (cache / w.file).is_file() and sha256_of(cache / w.file) != w.sha256]
    if mismatched:
        raise BuildError(
            "cached wheel(s) do not match the sha256 in wheels.lock: "
            + ", ".join(mismatched)
            + f"\nDelete them from {cache} and build again (a changed file on PyPI or a corrupt download)."
        )
    missing = [w for w in wheels if not (cache / w.file).is_file()]
    if not missing:
        return
    if offline:
        raise BuildError("missing wheel(s) and --offline given: " + ", ".join(w.file for w in missing))
    # One pip call per (platform, python) target that still lacks a file; each asks only for the missing packages.
    targets: dict[tuple[str, str], dict[str, str]] = {}
    for w in missing:
        platform, python = next((p, v) for p in w.platforms for v in w.pythons)
        targets.setdefault((platform, python), {})[w.package] = w.version
    with tempfile.TemporaryDirectory(prefix="genbridge-wheels-") as tmp:
        print(f"downloading {len(missing)} wheel(s) for {len(targets)} platform/Python target(s)", flush=True)
        errors = spec.pip_download_many(targets, Path(tmp))
        if errors:
            raise BuildError("\n".join(errors))
        fetched = {path.name: path for path in Path(tmp).glob("*/*.whl")}
        for w in missing:
            got = fetched.get(w.file)
            if got is None:
                raise BuildError(
                    f"pip did not produce {w.file} (it fetched: {', '.join(sorted(fetched))}); "
                    "the lock no longer matches PyPI: regenerate it with tools/lock_wheels.py"
                )
            if sha256_of(got) != w.sha256:
                raise BuildError(f"{w.file} downloaded with sha256 {sha256_of(got)}, wheels.lock says {w.sha256}")
            shutil.move(str(got), cache / w.file)


# -- staging --------------------------------------------------------------------------------------------------------
def source_files(source: Path) -> list[Path]:
    """Files of the add-on source: git's view (tracked + untracked, not ignored) when available, else a walk."""
    result = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if result.returncode == 0:
        names = [n for n in result.stdout.decode().split("\0") if n]
        return [Path(n) for n in names if (source / n).is_file() and not STAGE_SKIP_DIRS & set(Path(n).parts)]
    files = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = [d for d in dirnames if d not in STAGE_SKIP_DIRS]
        files += [Path(dirpath, f).relative_to(source) for f in filenames]
    return files


def set_top_level_array(manifest_text: str, key: str, values: list[str]) -> str:
    """Replace or add a top-level `key = [...]` (string array) in TOML text, before the first table header."""
    line = f"{key} = [\n" + "".join(f'  "{v}",\n' for v in values) + "]\n"
    header = re.search(r"^\[", manifest_text, flags=re.MULTILINE)
    top, rest = (manifest_text[: header.start()], manifest_text[header.start() :]) if header else (manifest_text, "")
    top = re.sub(rf"^{key}\s*=\s*\[[^\]]*\]\s*\n?", "", top, flags=re.MULTILINE)
    return top.rstrip("\n") + "\n\n" + line + "\n" + rest


def stage(source: Path, dest: Path, wheels: list[LockedWheel], platforms: list[str], cache: Path) -> Path:
    """Copy the add-on to `dest` with the wheels and a manifest that lists them; returns `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel in source_files(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    (dest / "wheels").mkdir()
    for w in wheels:
        shutil.copy2(cache / w.file, dest / "wheels" / w.file)
    text = (source / MANIFEST).read_text(encoding="utf-8")
    text = set_top_level_array(text, "platforms", platforms)
    text = set_top_level_array(text, "wheels", [f"./wheels/{w.file}" for w in sorted(wheels, key=lambda w: w.file)])
    parsed = tomllib.loads(text)  # the staged manifest must still be valid TOML with what we meant
    if parsed.get("platforms") != platforms or len(parsed.get("wheels", [])) != len(wheels):
        raise BuildError("could not write platforms/wheels into the staged manifest")
    (dest / MANIFEST).write_text(text, encoding="utf-8")
    return dest


# -- build ----------------------------------------------------------------------------------------------------------
def zip_name(manifest: dict, platform: str) -> str:
    return f"{manifest['id']}-{manifest['version']}-{platform.replace('-', '_')}.zip"


def check_zip(path: Path, platform: str, lock: list[LockedWheel]) -> int:
    """Validate a built zip's contents against the lock; returns its wheel count. Raises BuildError."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read(MANIFEST).decode("utf-8"))
    expected = sorted(w.file for w in wheels_for([platform], lock))
    bundled = sorted(n.rsplit("/", 1)[-1] for n in names if n.endswith(".whl"))
    if bundled != expected:
        missing, extra = sorted(set(expected) - set(bundled)), sorted(set(bundled) - set(expected))
        raise BuildError(f"{path.name}: wheels differ from wheels.lock ({platform}): missing {missing}, extra {extra}")
    generated = manifest.get("build", {}).get("generated", {})
    if generated.get("platforms") != [platform]:
        raise BuildError(f"{path.name}: manifest platforms are {generated.get('platforms')}, expected [{platform!r}]")
    return len(bundled)


def build(
    platforms: list[str],
    output_dir: Path,
    *,
    source: Path = spec.REPO,
    blender_ext: str | None = None,
    offline: bool = False,
    cache: Path = spec.WHEEL_CACHE,
) -> dict[str, Path]:
    """The whole build; returns {platform: zip path}."""
    unknown = sorted(set(platforms) - set(PLATFORMS))
    if unknown:
        raise BuildError(f"unknown platform(s) {unknown}; choose from {list(PLATFORMS)}")
    tool = find_blender_ext(blender_ext)
    lock = spec.read_lock()
    locked_platforms = {p for w in lock for p in w.platforms}
    if not set(platforms) <= locked_platforms:
        raise BuildError(f"wheels.lock has no wheels for {sorted(set(platforms) - locked_platforms)}")
    wheels = wheels_for(platforms, lock)

    t0 = time.perf_counter()
    ensure_wheels(wheels, cache, offline=offline)
    print(f"wheels: {len(wheels)} verified against wheels.lock ({time.perf_counter() - t0:.1f} s)", flush=True)

    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="genbridge-stage-") as tmp:
        staged = stage(source, Path(tmp) / "genbridge", wheels, platforms, cache)
        run_blender_ext(tool, "validate", str(staged))
        manifest = tomllib.loads((staged / MANIFEST).read_text(encoding="utf-8"))
        zips = {p: output_dir / zip_name(manifest, p) for p in platforms}
        for path in zips.values():
            path.unlink(missing_ok=True)
        build_args = ["--source-dir", str(staged), "--output-dir", str(output_dir), "--split-platforms"]
        run_blender_ext(tool, "build", *build_args)
    for platform, path in zips.items():
        if not path.is_file():
            raise BuildError(f"Blender's tool did not write {path}")
        run_blender_ext(tool, "validate", str(path))
        count = check_zip(path, platform, lock)
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB, {count} wheels", flush=True)
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--platform",
        action="append",
        choices=list(PLATFORMS),
        help="build only this platform (repeatable; default: all four)",
    )
    parser.add_argument("--output-dir", type=Path, default=spec.REPO / "dist")
    parser.add_argument("--blender-ext", help="path to blender_ext.py (default: found in an installed bpy)")
    parser.add_argument("--offline", action="store_true", help="use only wheels already in wheels/")
    parser.add_argument("--wheels-only", action="store_true", help="fetch and verify the wheels, build nothing")
    args = parser.parse_args(argv)
    platforms = args.platform or list(PLATFORMS)
    t0 = time.perf_counter()
    try:
        if args.wheels_only:
            lock = spec.read_lock()
            wheels = wheels_for(platforms, lock)
            ensure_wheels(wheels, spec.WHEEL_CACHE, offline=args.offline)
            print(f"wheels: {len(wheels)} verified against wheels.lock in {spec.WHEEL_CACHE}")
        else:
            build(platforms, args.output_dir, blender_ext=args.blender_ext, offline=args.offline)
    except (BuildError, FileNotFoundError, ValueError) as exc:
        print(f"BUILD FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
