"""runtime/deps.py: a missing, broken or too old dependency becomes a message that names it and the fix."""

from __future__ import annotations

import json
import subprocess
import sys

from genbridge.runtime.deps import FIX, check_dependencies


def problems_in_subprocess(setup: str) -> list[str]:
    """Run check_dependencies() in a fresh interpreter after `setup` tampers with sys.modules."""
    code = (
        f"import sys, types, json\n{setup}\nfrom genbridge.runtime.deps import check_dependencies\n"
        "print(json.dumps(check_dependencies()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_problems_when_every_dependency_imports():
    assert check_dependencies() == []


def test_missing_package_is_named_with_the_reinstall_fix():
    problems = problems_in_subprocess("sys.modules['websockets'] = None")
    assert len(problems) == 1
    assert "websockets" in problems[0] and FIX in problems[0]


def test_missing_transitive_dependency_names_the_missing_package():
    problems = problems_in_subprocess("sys.modules['multidict'] = None")
    assert any("multidict" in p and "aiohttp" in p and FIX in p for p in problems), problems


def test_broken_compiled_module_is_reported_not_raised():
    setup = (
        "import importlib.abc\n"
        "class Broken(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'pydantic_core._pydantic_core':\n"
        "            raise ImportError('wrong ELF class: ELFCLASS32')\n"
        "sys.meta_path.insert(0, Broken())"
    )
    problems = problems_in_subprocess(setup)
    assert any("pydantic" in p and "wrong ELF class" in p and FIX in p for p in problems), problems


def test_too_old_version_is_reported():
    problems = problems_in_subprocess(
        "m = types.ModuleType('websockets'); m.__version__ = '12.0'; sys.modules['websockets'] = m"
    )
    assert any("websockets 13.0 or newer" in p and "12.0" in p for p in problems), problems


def test_failed_snapshot_carries_the_problem_and_the_fix_as_plain_data():
    from genbridge.runtime.deps import failed_snapshot

    snap = failed_snapshot("j1", "image", ["GenBridge needs websockets, but it is missing: x."])
    assert snap["state"] == "failed" and snap["id"] == "j1"
    assert "websockets" in snap["error"]["message"] and "Reinstall the GenBridge zip" in snap["error"]["hint"]
    json.dumps(snap)
