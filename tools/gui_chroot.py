"""A cached Debian trixie root with Blender 4.3.2 (Debian's build, system Python 3.13) for the real-GUI tests.

    python tools/gui_chroot.py ensure              # create the root once (~70 s), or reuse it; prints its path
    python tools/gui_chroot.py run [--bind SRC:DST] [--env K=V] -- CMD...   # run CMD inside the root

The root lives OUTSIDE the clone ($GENBRIDGE_GUI_CACHE, default /var/cache/genbridge-gui) and is reused by every
run on the machine; a stamp file records what was installed, and a changed package list rebuilds it. Creating it
needs root, `debootstrap` and network access to deb.debian.org; missing host tools are installed with apt-get.

Every command runs in its own private mount namespace (`unshare --mount`): /proc, /dev, /sys, the X server's
socket dir and the caller's work dirs are bind-mounted only inside that namespace, so they vanish with the
process, also when it is killed by `timeout`. Nothing is ever left mounted under the cached root, so deleting it
is safe. The chroot shares the host's network namespace: servers on the host's 127.0.0.1 are reachable.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# Blender 4.3.2 with system Python 3.13; Mesa's llvmpipe for software GL. Our own wheels (cp313) come with the zip.
PACKAGES = ("blender", "libgl1-mesa-dri", "ca-certificates")
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "Xvfb": "xvfb",
    "import": "imagemagick",
    "unshare": "util-linux",
    "xdotool": "xdotool",  # real key presses (Esc during a render) for the GUI suite
}
STAMP = ".genbridge-gui-root.json"
DEFAULT_CACHE = Path(os.environ.get("GENBRIDGE_GUI_CACHE", "/var/cache/genbridge-gui"))
X11_DIR = "/tmp/.X11-unix"


class ChrootError(RuntimeError):
    """Setting up or entering the root failed; the message says what to do."""


def _log(message: str) -> None:
    print(f"[gui_chroot] {message}", file=sys.stderr, flush=True)


def ensure_host_tools(tools: dict[str, str] = HOST_TOOLS) -> None:
    """Install (apt-get) the host tools the GUI suite needs when they are missing."""
    missing = sorted({pkg for exe, pkg in tools.items() if shutil.which(exe) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ChrootError(f"the GUI suite needs {', '.join(missing)}: install them (as root: apt-get install ...)")
    _log(f"installing host tools: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(["timeout", "600", *install], env=env, check=False).returncode != 0:
        subprocess.run(["timeout", "300", "apt-get", "update"], env=env, check=False)
        subprocess.run(["timeout", "600", *install], env=env, check=True)


def _wanted() -> dict[str, object]:
    return {"suite": SUITE, "packages": sorted(PACKAGES), "format": 1}


def root_path(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / "root"


def is_ready(root: Path) -> bool:
    try:
        return json.loads((root / STAMP).read_text()) == _wanted() and (root / "usr/bin/blender").exists()
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One builder per machine: concurrent test runs wait for the first to finish the root."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_root(cache: Path = DEFAULT_CACHE) -> Path:
    """The ready root (built once per machine, ~70 s); raises ChrootError with the reason when it cannot be."""
    root = root_path(cache)
    if is_ready(root):
        return root
    if os.geteuid() != 0:
        raise ChrootError(f"building the GUI root in {cache} needs root (debootstrap, chroot, mount)")
    ensure_host_tools()
    with _locked(cache):
        if is_ready(root):
            return root
        t0 = time.monotonic()
        new = cache / "root.new"
        # Safe to delete: namespaces keep every bind mount private to its process, none is under this dir.
        shutil.rmtree(new, ignore_errors=True)
        _log(f"debootstrap {SUITE} into {new} (about 30 s)")
        subprocess.run(
            ["timeout", "900", "debootstrap", "--variant=minbase", SUITE, str(new), MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        shutil.copy2("/etc/resolv.conf", new / "etc/resolv.conf")
        # No daemons start inside the root while packages install.
        policy = new / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        _log(f"apt-get install {' '.join(PACKAGES)} (about 40 s)")
        apt = "apt-get update -q && apt-get install -y -q --no-install-recommends " + " ".join(PACKAGES)
        proc = run(new, ["/bin/sh", "-c", apt], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=1200)
        if proc.returncode != 0:
            raise ChrootError(f"apt-get in the new root failed (rc={proc.returncode}); see the output above")
        subprocess.run(["rm", "-rf", "--one-file-system", str(new / "var/cache/apt/archives")], check=False)
        (new / STAMP).write_text(json.dumps(_wanted()))
        if root.exists():
            shutil.rmtree(root)
        new.rename(root)
        _log(f"root ready in {time.monotonic() - t0:.0f} s: {root}")
    return root


def command(
    root: Path,
    argv: Sequence[str],
    *,
    binds: Sequence[tuple[str, str]] = (),
    env: dict[str, str] | None = None,
    cwd: str = "/",
) -> list[str]:
    """The host command line that runs `argv` inside `root` in a private mount namespace."""
    lines = ["set -e", f"R={shlex.quote(str(root))}"]
    lines += ['mount --rbind /dev "$R/dev"', 'mount --bind /proc "$R/proc"', 'mount --rbind /sys "$R/sys"']
    for src, dst in binds:
        q = shlex.quote(dst)
        lines.append(f'mkdir -p "$R"{q} && mount --bind {shlex.quote(src)} "$R"{q}')
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": "/root"}
    env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in {**base, **(env or {})}.items())
    inner = " ".join(shlex.quote(a) for a in argv)
    lines.append(f'exec chroot "$R" /usr/bin/env -i {env_args} /bin/sh -c {shlex.quote(f"cd {cwd} && exec {inner}")}')
    # unshare execs (no fork): the pid `timeout` kills is the command itself, and the mounts die with it.
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", "\n".join(lines)]


def run(root: Path, argv: Sequence[str], *, timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess:
    """Run `argv` in the root under `timeout` (output passes through unless captured)."""
    capture = bool(kwargs.pop("capture", False))
    cmd = ["timeout", "-k", "5", str(int(timeout)), *command(root, argv, **kwargs)]  # type: ignore[arg-type]
    return subprocess.run(cmd, check=False, capture_output=capture, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ensure")
    r = sub.add_parser("run")
    r.add_argument("--bind", action="append", default=[], help="SRC:DST (DST inside the root)")
    r.add_argument("--env", action="append", default=[], help="K=V")
    r.add_argument("--timeout", type=float, default=600)
    r.add_argument("argv", nargs="+")
    args = parser.parse_args(argv)
    try:
        root = ensure_root(args.cache)
    except (ChrootError, subprocess.CalledProcessError) as exc:
        print(f"GUI ROOT FAILED: {exc}", file=sys.stderr)
        return 1
    if args.cmd == "ensure":
        print(root)
        return 0
    binds = [tuple(b.split(":", 1)) for b in args.bind]
    env = dict(e.split("=", 1) for e in args.env)
    return run(root, args.argv, binds=binds, env=env, timeout=args.timeout).returncode  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
