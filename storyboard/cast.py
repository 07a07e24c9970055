"""The storyboard's cast (no bpy, no pydantic): characters with a description, reference images and one seed each.

Consistency by construction: every shot with a character who has references asks for a reference keyframe
(task `character_image`, a Flux Kontext cast template) with the same reference files and the same seed (the
character's own, kept with the cast), and with the characters' descriptions folded into the prompt. Shots without
cast members (or whose characters have no references yet) keep the plain text-to-image keyframe.

Whether the server has the reference model is decided where the job runs: the ComfyUI client pre-flights a job
that carries `REFERENCE_FALLBACK_KEY` (see `backends/comfyui/references.py`) and either reports the missing model
with the fix, or, when the storyboard allows it, makes the keyframe from text alone and says so on the job.
"""

from __future__ import annotations

import tomllib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHARACTER_TASK = "character_image"
# How many references one keyframe takes; more cast members in a shot are described in the prompt only.
MAX_REFERENCES = 2
REFERENCE_TEMPLATES = {1: "flux_kontext_cast", 2: "flux_kontext_cast_pair"}
REFERENCE_PARAMS = ("image", "image_2")  # the templates' image parameters, in reference order
REFERENCE_FALLBACK_KEY = (
    "reference_fallback"  # job input: {"allowed": bool, "task": ..., "template": ..., "drop": [...]}
)
CAST_KEY = "cast"  # job input: {"references": [{character, path, source}], "why": "..."} (read by the plan printout)
SEED_LIMIT = 2**31 - 1  # Blender's IntProperty holds it
MAX_CAST_FILE = 1024 * 1024


class CastError(ValueError):
    """A cast file or cast entry that cannot be used; the message says what, where and how to fix it."""


def character_seed(name: str) -> int:
    """A character's seed, stable from its name (so a cast re-made from the same shot list gets the same seeds)."""
    return zlib.crc32(name.strip().casefold().encode("utf-8")) & SEED_LIMIT


@dataclass
class Reference:
    """One reference image of a character: a local file and where it came from (file, camera render, ...)."""

    path: str
    source: str = "file"
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class Character:
    """A cast member: the name the shot list uses, a short description, references, and the seed every shot uses."""

    name: str
    description: str = ""
    references: list[Reference] = field(default_factory=list)
    seed: int = -1

    def __post_init__(self) -> None:
        if self.seed < 0:
            self.seed = character_seed(self.name)

    @property
    def reference(self) -> Reference | None:
        """The reference every shot uses (the first one): the same image in every shot."""
        return next((r for r in self.references if r.path), None)


@dataclass
class Cast:
    """The scene's characters, in the order they were added."""

    characters: list[Character] = field(default_factory=list)

    def get(self, name: str) -> Character | None:
        key = name.strip().casefold()
        return next((c for c in self.characters if c.name.strip().casefold() == key), None)

    def add_names(self, names: Iterable[str]) -> list[str]:
        """Add every name not yet in the cast (no description, no references); returns the names added."""
        added = []
        for name in names:
            if name.strip() and self.get(name) is None:
                self.characters.append(Character(name.strip()))
                added.append(name.strip())
        return added

    def add_from_shots(self, shots: Iterable[Any]) -> list[str]:
        """The characters the shot-list task wrote, added without references until the user gives some."""
        return self.add_names(n for shot in shots for n in shot.characters)

    def to_data(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.characters]

    @classmethod
    def from_data(cls, data: Iterable[Mapping[str, Any]]) -> Cast:
        return cls(
            [
                Character(
                    str(c["name"]),
                    str(c.get("description", "")),
                    [Reference(**r) for r in c.get("references", [])],
                    int(c.get("seed", -1)),
                )
                for c in data
            ]
        )


# -- a shot's cast -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShotCast:
    """Who of the cast is in a shot, which references its keyframe uses, and why (for the plan)."""

    members: tuple[Character, ...]
    used: tuple[tuple[str, Reference], ...]  # (character name, reference), at most MAX_REFERENCES
    why: str

    @property
    def template(self) -> str | None:
        return REFERENCE_TEMPLATES.get(len(self.used))

    @property
    def seed(self) -> int:
        """The seed of the first character whose reference is used, else of the first member (the same in every
        shot with them); -1 (random) for a shot without cast members."""
        first = self.used[0][0] if self.used else (self.members[0].name if self.members else "")
        return next((c.seed for c in self.members if c.name == first), -1)

    def reference_lines(self) -> list[str]:
        return [f"{name}: {ref.path}" + (f" ({ref.source})" if ref.source != "file" else "") for name, ref in self.used]


def shot_cast(characters: Iterable[str], cast: Cast | None) -> ShotCast:
    """The cast members named by a shot and the references its keyframe uses (the first reference of each)."""
    members = tuple(c for c in (cast.get(n) if cast else None for n in characters) if c is not None)
    with_refs = [(c.name, c.reference) for c in members if c.reference is not None]
    used = tuple((name, ref) for name, ref in with_refs[:MAX_REFERENCES] if ref is not None)
    if not used:
        why = "no cast member in this shot has a reference image: text to image"
        return ShotCast(members, (), why if members else "no cast member in this shot: text to image")
    why = f"keeps {', '.join(n for n, _ in used)} from {'their' if len(used) > 1 else 'a'} reference image" + (
        "s" if len(used) > 1 else ""
    )
    skipped = [n for n, _ in with_refs[MAX_REFERENCES:]]
    if skipped:
        why += f"; {', '.join(skipped)} only described (one keyframe takes at most {MAX_REFERENCES} references)"
    missing = [c.name for c in members if c.reference is None]
    if missing:
        why += f"; {', '.join(missing)} described only (no reference image yet)"
    return ShotCast(members, used, why)


def described_characters(characters: Iterable[str], cast: Cast | None) -> list[str]:
    """The shot's character names, each with its cast description folded in: "Mara (red-haired keeper)"."""
    out = []
    for name in characters:
        member = cast.get(name) if cast else None
        desc = member.description.strip().rstrip(".") if member else ""
        out.append(f"{name.strip()} ({desc})" if desc else name.strip())
    return out


# -- the cast file ---------------------------------------------------------------------------------------------------
_KEYS = {"name", "description", "references", "seed"}
_EXAMPLE = '[[characters]]\nname = "Mara"\ndescription = "red-haired lighthouse keeper"\nreferences = ["mara.png"]'


def read_cast_file(path: str | Path) -> Cast:
    """A cast from TOML: `[[characters]]` tables with name, description, references (paths, relative to the file)
    and an optional seed. Every problem names the file, the character and the fix."""
    file = Path(path).expanduser()
    where = str(file)
    if not file.is_file():
        raise CastError(f"The cast file {where} does not exist. Give the path of a TOML file like:\n{_EXAMPLE}")
    if file.stat().st_size > MAX_CAST_FILE:
        raise CastError(f"The cast file {where} is larger than 1 MB; a cast file holds names, text and paths only.")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CastError(
            f"The cast file {where} is not valid TOML ({exc}). Fix it; the format is:\n{_EXAMPLE}"
        ) from None
    raw = data.get("characters")
    if not isinstance(raw, list) or not raw:
        raise CastError(f"The cast file {where} has no [[characters]] tables. Add one per character, like:\n{_EXAMPLE}")
    cast = Cast()
    for number, item in enumerate(raw, 1):
        at = f"{where}, character {number}"
        if not isinstance(item, dict):
            raise CastError(f"{at}: expected a [[characters]] table, got {type(item).__name__}.")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise CastError(f"{at}: unknown key(s) {', '.join(unknown)}; a character has {', '.join(sorted(_KEYS))}.")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CastError(f'{at}: no name. Give the name the shot list uses, e.g. name = "Mara".')
        at = f'{where}, character "{name.strip()}"'
        if cast.get(name) is not None:
            raise CastError(f"{at}: this name is in the file twice; merge the two entries.")
        description = item.get("description", "")
        if not isinstance(description, str):
            raise CastError(f"{at}: description must be text.")
        refs = item.get("references", [])
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
            raise CastError(f'{at}: references must be a list of image paths, e.g. references = ["mara.png"].')
        references = []
        for ref in refs:
            ref_path = Path(ref).expanduser()
            ref_path = ref_path if ref_path.is_absolute() else (file.parent / ref_path)
            if ref_path.is_dir():
                raise CastError(f"{at}: the reference {ref_path} is a folder; name an image file in it.")
            if not ref_path.is_file():
                raise CastError(
                    f"{at}: the reference image {ref_path} does not exist. Fix the path (relative paths "
                    "start at the cast file's folder)."
                )
            references.append(Reference(str(ref_path.resolve()), "file", {"file": str(ref_path.resolve())}))
        seed = item.get("seed", -1)
        if isinstance(seed, bool) or not isinstance(seed, int) or not -1 <= seed <= SEED_LIMIT:
            raise CastError(f"{at}: seed must be a whole number from 0 to {SEED_LIMIT} (or leave it out).")
        cast.characters.append(Character(name.strip(), description.strip(), references, seed))
    return cast
