"""Check that the bundled runtime dependencies import, so the UI can show a clear message instead of a traceback.

Stdlib only. Call `check_dependencies()` on the loop thread (it imports aiohttp, websockets and pydantic, which is
heavy); an empty list means everything is usable.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

FIX = "reinstall the GenBridge zip for your platform"


@dataclass(frozen=True)
class Requirement:
    """A module GenBridge imports, the distribution that provides it, and the oldest major.minor it works with."""

    module: str
    package: str
    minimum: tuple[int, int]


# Top-level modules first: importing them pulls in their own dependencies (yarl, multidict, pydantic_core...),
# and a failure there is reported under the name of the module that is actually missing or broken.
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("aiohttp", "aiohttp", (3, 9)),
    Requirement("websockets", "websockets", (13, 0)),  # websockets.asyncio.client appeared in 13.0
    Requirement("websockets.asyncio.client", "websockets", (13, 0)),
    Requirement("pydantic", "pydantic", (2, 5)),
    Requirement("pydantic_core", "pydantic-core", (2, 0)),
)

# Import name -> distribution name, for naming a missing transitive dependency.
PACKAGE_OF_MODULE = {
    "aiohttp": "aiohttp",
    "aiohappyeyeballs": "aiohappyeyeballs",
    "aiosignal": "aiosignal",
    "attr": "attrs",
    "attrs": "attrs",
    "frozenlist": "frozenlist",
    "multidict": "multidict",
    "propcache": "propcache",
    "yarl": "yarl",
    "idna": "idna",
    "websockets": "websockets",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic-core",
    "typing_extensions": "typing-extensions",
    "annotated_types": "annotated-types",
    "typing_inspection": "typing-inspection",
}


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _installed_version(module: object, package: str) -> str | None:
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        from importlib.metadata import version as dist_version

        return dist_version(package)
    except Exception:  # noqa: BLE001 - metadata is optional; no version means no version check
        return None


def _problem_for_import_error(req: Requirement, exc: BaseException) -> str:
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing:
        package = PACKAGE_OF_MODULE.get(missing.split(".")[0], missing.split(".")[0])
        if package != req.package:
            return f"GenBridge needs {package} (used by {req.package}), but it is missing: {FIX}."
        return f"GenBridge needs {package}, but it is missing: {FIX}."
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return f"GenBridge could not load {req.package} ({detail}): {FIX}."


def check_dependencies() -> list[str]:
    """Import every runtime dependency; return one user-facing problem per missing, broken or too old package."""
    problems: list[str] = []
    failed_packages: set[str] = set()
    for req in REQUIREMENTS:
        if req.package in failed_packages:
            continue
        try:
            module = importlib.import_module(req.module)
        except BaseException as exc:  # a broken wheel can raise anything at import (SystemError...)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            failed_packages.add(req.package)
            problem = _problem_for_import_error(req, exc)
            if problem not in problems:
                problems.append(problem)
            continue
        if "." in req.module:
            continue  # a submodule check: presence is all we need
        version = _installed_version(module, req.package)
        if version is not None and _version_tuple(version) < req.minimum:
            failed_packages.add(req.package)
            wanted = ".".join(map(str, req.minimum))
            problems.append(
                f"GenBridge needs {req.package} {wanted} or newer but found {version} "
                f"(another add-on may have installed it): {FIX}."
            )
    return problems


def dependency_origins() -> dict[str, str]:
    """Where each already-imported dependency was loaded from (for diagnostics and the zip smoke test)."""
    origins = {}
    for req in REQUIREMENTS:
        module = sys.modules.get(req.module)
        if module is not None and "." not in req.module:
            origins[req.package] = str(getattr(module, "__file__", "") or "")
    return origins


def failed_snapshot(job_id: str, task: str, problems: list[str]) -> dict[str, object]:
    """A plain-data failed-job snapshot for when the dependencies are unusable (pydantic models cannot be built).

    Same keys as `Job.model_dump()` uses for a failed job, so the UI shows it like any other failure.
    """
    message = problems[0] if len(problems) == 1 else f"{len(problems)} dependency problems: " + " ".join(problems)
    return {
        "id": job_id,
        "task": task,
        "state": "failed",
        "phase": f"Failed: {message}",
        "error": {
            "code": "missing_dependency",
            "message": message,
            "hint": FIX[0].upper() + FIX[1:] + ".",
            "service": "",
        },
    }
