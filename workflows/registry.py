"""Bundled and user templates: a folder scan that lists every template, broken ones with their error.

Templates are `<name>.json` (API format) files with an optional `<name>.params.toml|json` sidecar. Bundled ones
live in `workflows/bundled/`; user folders come from `settings.template_dirs` and are scanned after it, so a
user template with a bundled template's name replaces it. Scanning reads a few small files: call it on the
loop thread at start and whenever the user asks for a refresh; it never raises for a broken template.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime.errors import GenBridgeError, RejectedInput
from .template import Template, load_template

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


@dataclass(frozen=True)
class TemplateInfo:
    """One listed template; `error` is set (and `template` is None) when it failed to load."""

    name: str
    kind: str
    description: str
    path: str
    source: str  # "bundled" or "user"
    tasks: tuple[str, ...] = ()
    error: str = ""
    template: Template | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the UI and `templates list --json`."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "path": self.path,
            "source": self.source,
            "tasks": list(self.tasks),
            "error": self.error,
        }


def template_dirs(settings: Any = None) -> list[tuple[Path, str]]:
    """The bundled folder, then every user folder from `settings.template_dirs` (missing ones skipped)."""
    dirs = [(BUNDLED_DIR, "bundled")]
    for raw in getattr(settings, "template_dirs", None) or []:
        path = Path(raw).expanduser()
        if path.is_dir():
            dirs.append((path, "user"))
        else:
            log.warning("template folder %s does not exist; skipped", path)
    return dirs


def scan_folder(folder: Path, source: str) -> list[TemplateInfo]:
    """Every `*.json` workflow in `folder` (sidecars excluded), loaded or with its error."""
    infos = []
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".params.json"):
            continue
        try:
            tpl = load_template(path)
        except GenBridgeError as exc:
            infos.append(
                TemplateInfo(
                    name=path.stem, kind="broken", description="", path=str(path), source=source, error=str(exc)
                )
            )
            continue
        except Exception as exc:  # one odd file must not hide the other templates
            log.exception("unexpected error loading template %s", path)
            infos.append(
                TemplateInfo(
                    name=path.stem,
                    kind="broken",
                    description="",
                    path=str(path),
                    source=source,
                    error=f"Cannot load {path.name}: {type(exc).__name__}: {exc}",
                )
            )
            continue
        infos.append(
            TemplateInfo(
                name=tpl.name,
                kind=tpl.kind,
                description=tpl.description,
                path=str(path),
                source=source,
                tasks=tpl.tasks,
                template=tpl,
            )
        )
    return infos


def list_templates(settings: Any = None) -> list[TemplateInfo]:
    """All templates by name (user templates shadow bundled ones of the same name), broken ones included."""
    by_name: dict[str, TemplateInfo] = {}
    for folder, source in template_dirs(settings):
        for info in scan_folder(folder, source):
            by_name[info.name] = info
    return sorted(by_name.values(), key=lambda i: i.name)


def get_template(name: str, settings: Any = None) -> Template:
    """A template by name (or a path to a workflow JSON); RejectedInput if unknown or broken."""
    path = Path(name).expanduser()
    if name.endswith(".json") and path.is_file():
        return load_template(path)
    templates = list_templates(settings)
    for info in templates:
        if info.name == name:
            if info.template is None:
                raise RejectedInput(f'The template "{name}" is broken: {info.error}', "Fix or remove the file.")
            return info.template
    known = ", ".join(i.name for i in templates if i.template is not None)
    raise RejectedInput(f'There is no workflow template called "{name}".', f"Available templates: {known}.")
