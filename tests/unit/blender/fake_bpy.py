"""A small fake of the `bpy` module: enough of bpy.app, bpy.data, bpy.context and bpy.types for the session and
landing code to run in plain pytest (timers never fire in the real bpy module either: tests pump the callback).
Collections compare callbacks by identity, as Blender's timers do."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any


class IDData(dict):
    """An ID block: attributes plus custom properties (`block["genbridge_job_id"]`)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__()
        self.__dict__.update(attrs)


class Image(IDData):
    def reload(self) -> None:
        self.reloads = getattr(self, "reloads", 0) + 1

    def preview_ensure(self) -> None:
        self.preview = types.SimpleNamespace(icon_id=4242)


class Images(dict):
    def load(self, path: str, check_existing: bool = False) -> Image:
        for image in self.values():
            if check_existing and image.filepath == path:
                return image
        image = Image(name=Path(path).name, filepath=path, pixels_read=False)
        self[image.name] = _Renaming(self, image)
        return self[image.name]


def _Renaming(owner: dict, image: Image) -> Image:
    """Renaming an image re-keys it in `bpy.data.images`, as Blender does."""

    class Named(type(image)):
        def __setattr__(self, name: str, value: Any) -> None:
            if name == "name" and "name" in self.__dict__:
                owner.pop(self.__dict__["name"], None)
                owner[value] = self
            object.__setattr__(self, name, value)

    image.__class__ = Named
    return image


class Text(IDData):
    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.body = ""

    @property
    def lines(self) -> list[Any]:
        return [types.SimpleNamespace(body=line) for line in self.body.split("\n")]

    def cursor_set(self, line: int, character: int) -> None:
        self.cursor = (line, character)

    def write(self, text: str) -> None:
        self.body += text

    def as_string(self) -> str:
        return self.body

    def from_string(self, text: str) -> None:
        self.body = text


class Texts(dict):
    def new(self, name: str) -> Text:
        self[name] = Text(name)
        return self[name]


class Strip(IDData):
    pass


class Strips(list):
    def _new(self, kind: str, name: str, filepath: str, channel: int, frame_start: int, content: int) -> Strip:
        strip = Strip(
            type=kind,
            name=name,
            filepath=filepath,
            channel=channel,
            frame_start=frame_start,
            frame_duration=content,
            frame_final_duration=content,
        )
        self.append(strip)
        return strip

    def new_movie(self, name: str, filepath: str, channel: int, frame_start: int) -> Strip:
        return self._new("MOVIE", name, filepath, channel, frame_start, content=MOVIE_FRAMES)

    def new_image(self, name: str, filepath: str, channel: int, frame_start: int) -> Strip:
        strip = self._new("IMAGE", name, filepath, channel, frame_start, content=1)
        path = Path(filepath)
        strip.directory = str(path.parent) + "/"
        strip.elements = [types.SimpleNamespace(filename=path.name)]
        strip.read_on_add = path.is_file()  # Blender decodes an existing file at once
        return strip


MOVIE_FRAMES = 81  # what the fake "reads" as a movie file's own length


class Scene(IDData):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, sequence_editor=None)

    def sequence_editor_create(self) -> Any:
        self.sequence_editor = types.SimpleNamespace(strips=Strips())
        return self.sequence_editor


class Region:
    def __init__(self, kind: str, category: str = "GenBridge") -> None:
        self.type, self.active_panel_category, self.width, self.redraws = kind, category, 280, 0

    def tag_redraw(self) -> None:
        self.redraws += 1


class SpaceImageEditor:
    def __init__(self) -> None:
        self.image = None
        self.show_region_ui = True


class Area:
    def __init__(self, kind: str, *, sidebar: bool = True, category: str = "GenBridge") -> None:
        self.type = kind
        space = SpaceImageEditor() if kind == "IMAGE_EDITOR" else types.SimpleNamespace(show_region_ui=sidebar)
        space.show_region_ui = sidebar
        self.spaces = types.SimpleNamespace(active=space)
        self.regions = [Region("HEADER"), Region("WINDOW"), Region("UI", category)]
        self.redraws = 0

    def tag_redraw(self) -> None:
        self.redraws += 1


class Rows(list):
    def add(self) -> Any:
        self.append(types.SimpleNamespace(job_id=""))
        return self[-1]


class WindowManager(dict):
    def __init__(self, areas: list[Area]) -> None:
        super().__init__()
        self.windows = [types.SimpleNamespace(screen=types.SimpleNamespace(areas=areas))]
        self.genbridge_jobs = Rows()
        self.genbridge_job_index = 0


class Timers:
    """Blender's timer API with identity matching; nothing fires by itself."""

    def __init__(self) -> None:
        self.registered: list[Any] = []

    def register(self, fn: Any, first_interval: float = 0.0, persistent: bool = False) -> None:
        self.registered.append(fn)

    def unregister(self, fn: Any) -> None:
        for index, known in enumerate(self.registered):
            if known is fn:
                del self.registered[index]
                return
        raise ValueError("function is not registered")

    def is_registered(self, fn: Any) -> bool:
        return any(known is fn for known in self.registered)


def make(tmp: Path, areas: list[Area] | None = None) -> types.ModuleType:
    """A fresh fake `bpy` with one window holding `areas` (default: a 3D Viewport with its sidebar open)."""
    bpy = types.ModuleType("bpy")
    scene = Scene("Scene")
    handlers = types.SimpleNamespace(
        save_pre=[], save_post=[], load_post=[], save_post_fail=[], persistent=lambda fn: fn
    )
    bpy.app = types.SimpleNamespace(  # type: ignore[attr-defined]
        timers=Timers(), handlers=handlers, background=True, online_access=False, is_job_running=lambda kind: False
    )
    bpy.utils = types.SimpleNamespace(extension_path_user=lambda pkg, create=False: str(tmp))  # type: ignore[attr-defined]
    bpy.data = types.SimpleNamespace(  # type: ignore[attr-defined]
        images=Images(), texts=Texts(), scenes={scene.name: scene}
    )
    bpy.context = types.SimpleNamespace(  # type: ignore[attr-defined]
        window_manager=WindowManager(areas if areas is not None else [Area("VIEW_3D")]), scene=scene
    )
    bpy.types = types.SimpleNamespace(SpaceImageEditor=SpaceImageEditor)  # type: ignore[attr-defined]
    bpy.ops = types.SimpleNamespace()  # type: ignore[attr-defined]
    return bpy
