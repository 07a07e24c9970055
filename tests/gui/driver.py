"""The GUI driver: runs INSIDE a real Blender window (`blender --python driver.py`), sequenced by `bpy.app.timers`.

It plays a user's session against the stand-ins on the host's 127.0.0.1 and writes what it saw as JSON (the
pytest side judges that file, not Blender's exit code). It never asks Blender to redraw: what the panels show is
recorded by wrapping the GenBridge panels' and job list's draw functions from the outside (a recording proxy
around `self.layout`), so every check sees exactly what Blender drew, and when, without any help from the test.

Input, once, before the window opens: the JSON file named by $GB_GUI_CONFIG (endpoints, work dirs, master key).
Screenshots are taken from outside Blender: the driver drops `<name>.req` files that the host turns into JPEGs.
Thread rule: everything here runs on Blender's main thread (module level and timer callbacks).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import traceback
import types
from pathlib import Path

import addon_utils
import bpy

CFG = json.loads(Path(os.environ["GB_GUI_CONFIG"]).read_text())
PKG = "bl_ext.user_default.genbridge"
T0 = time.monotonic()
RESULT: dict = {"checks": {}, "log": [], "gaps": {}, "blender": bpy.app.version_string, "python": sys.version}
FRAMES: list[dict] = []  # every recorded draw: t, panel, area, items (label/operator/prop/progress...)
SHOTS = Path(CFG["shots_dir"])
_shot_seq = [0]

# Never open the splash over the panels (read before the splash is shown, after this script runs).
bpy.context.preferences.view.show_splash = False


def now() -> float:
    return time.monotonic() - T0


def log(message: str) -> None:
    RESULT["log"].append(f"[{now():7.2f}] {message}")
    print(f"[gui-driver {now():7.2f}] {message}", flush=True)


def shot(name: str) -> str:
    """Ask the host for a screenshot of the whole X screen (`import -window root`); returns its file name."""
    _shot_seq[0] += 1
    fname = f"{_shot_seq[0]:02d}-{name}.jpg"
    (SHOTS / f"{fname}.req").write_text(f"{now():.3f}")
    return fname


def check(name: str, ok: bool, detail: str, screenshot: str) -> None:
    RESULT["checks"][name] = {"ok": bool(ok), "detail": detail, "shot": screenshot}
    log(f"CHECK {name}: {'ok' if ok else 'FAILED'} - {detail} (screenshot {screenshot})")


# -- draw recorder ---------------------------------------------------------------------------------------------------
CONTAINERS = {"row", "column", "box", "split", "grid_flow", "column_flow", "panel", "panel_prop"}
RECORDED = {"label", "operator", "prop", "progress", "template_list", "template_icon", "template_preview"}


def _record(name: str, args: tuple, kw: dict) -> dict:
    item: dict = {"kind": name, "icon": str(kw.get("icon", ""))}
    if name == "label":
        item["text"] = str(kw.get("text", args[0] if args else ""))
    elif name == "operator":
        item["op"] = str(args[0] if args else kw.get("operator", ""))
        item["text"] = str(kw.get("text", ""))
    elif name == "prop":
        item["prop"] = str(args[1] if len(args) > 1 else kw.get("property", ""))
        item["text"] = str(kw.get("text", ""))
    elif name == "progress":
        item["factor"] = float(kw.get("factor", 0.0) or 0.0)
        item["text"] = str(kw.get("text", ""))
    return item


class RecLayout:
    """Forwards every call to the real UILayout and records what was put into it."""

    __slots__ = ("_items", "_real")

    def __init__(self, real, items: list) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_items", items)

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr

        def call(*args, **kw):
            result = attr(*args, **kw)
            try:
                if name in RECORDED:
                    self._items.append(_record(name, args, kw))
            except Exception as exc:
                RESULT.setdefault("recorder_errors", []).append(repr(exc))
            return RecLayout(result, self._items) if name in CONTAINERS and result is not None else result

        return call

    def __setattr__(self, name, value) -> None:
        setattr(self._real, name, value)


class SelfProxy:
    """The panel seen by its draw function: `layout` is recorded; Python methods of the class bind to the proxy."""

    def __init__(self, real, layout) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "layout", layout)

    def __getattr__(self, name):
        fn = getattr(type(self._real), name, None)
        if isinstance(fn, types.FunctionType):
            return types.MethodType(fn, self)
        return getattr(self._real, name)

    def __setattr__(self, name, value) -> None:
        setattr(self._real, name, value)


def _subclasses(base) -> list:
    seen, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo += cls.__subclasses__()
    return seen


def _ours(cls) -> bool:
    return cls.__module__.startswith(PKG) and getattr(cls, "is_registered", True)


def install_recorder() -> list[str]:
    wrapped = []
    for cls in _subclasses(bpy.types.Panel):
        if not _ours(cls) or "draw" not in dir(cls):
            continue
        orig = cls.draw

        def draw(self, context, _orig=orig, _cls=cls):
            items: list = []
            try:
                area = context.area.type if context.area else ""
            except Exception:
                area = "?"
            try:
                _orig(SelfProxy(self, RecLayout(self.layout, items)), context)
            finally:
                FRAMES.append({"t": now(), "panel": _cls.bl_idname, "area": area, "items": items})

        cls.draw = draw
        wrapped.append(cls.bl_idname)
    for cls in _subclasses(bpy.types.UIList):
        if not _ours(cls) or "draw_item" not in dir(cls):
            continue
        orig = cls.draw_item

        def draw_item(self, context, layout, data, item, *rest, _orig=orig, _cls=cls):
            items: list = []
            try:
                area = context.area.type if context.area else ""
            except Exception:
                area = "?"
            try:
                _orig(self, context, RecLayout(layout, items), data, item, *rest)
            finally:
                job_id = getattr(item, "job_id", "")
                FRAMES.append({"t": now(), "panel": _cls.bl_idname, "area": area, "items": items, "job_id": job_id})

        cls.draw_item = draw_item
        wrapped.append(cls.bl_idname)
    return wrapped


def frames_since(t: float, panel_prefix: str = "", area: str = "") -> list[dict]:
    return [
        f for f in FRAMES if f["t"] >= t and f["panel"].startswith(panel_prefix) and (not area or f["area"] == area)
    ]


def texts(frame: dict) -> list[str]:
    return [i.get("text", "") for i in frame["items"] if i["kind"] == "label"]


def status_frames(t: float) -> list[dict]:
    """Frames of the main GenBridge panels (not storyboard, not list rows) drawn since `t`."""
    return [f for f in frames_since(t, "GENBRIDGE_PT_") if "storyboard" not in f["panel"]]


# -- Blender helpers (main thread) -----------------------------------------------------------------------------------
def window():
    return bpy.context.window_manager.windows[0]


def area_of(kind: str):
    return next((a for a in window().screen.areas if a.type == kind), None)


def region_of(area, kind: str = "UI"):
    return next(r for r in area.regions if r.type == kind)


def call_op(op_path: str, area_kind: str, **props):
    """Run an operator as a button press in that editor's sidebar would (context override, no redraw request)."""
    area = area_of(area_kind)
    with bpy.context.temp_override(window=window(), area=area, region=region_of(area)):
        module, name = op_path.split(".")
        return getattr(getattr(bpy.ops, module), name)(**props)


def prefs():
    return bpy.context.preferences.addons[PKG].preferences


def session():
    """The add-on's session (best effort, only to know when to look; judging uses what was drawn)."""
    for name, mod in list(sys.modules.items()):
        if name.startswith(PKG) and getattr(mod, "SESSION", None) is not None:
            return mod.SESSION
    return None


def jobs() -> dict:
    s = session()
    return dict(getattr(s, "jobs", {}) or {}) if s is not None else {}


def services_checking() -> bool:
    s = session()
    return bool(getattr(s, "services_checking", False)) if s is not None else False


def strips(scene):
    editor = scene.sequence_editor
    if editor is None:
        return []
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def wait_until(pred, timeout: float, poll: float = 0.05):
    end = now() + timeout
    while not pred():
        if now() > end:
            return False
        yield poll
    return True


def set_endpoint(service: str, url: str, label: str, key: str = "") -> None:
    rows = prefs().endpoints(service) if hasattr(prefs(), "endpoints") else getattr(prefs(), f"{service}_endpoints")
    rows.clear()
    ep = rows.add()
    ep.url, ep.label, ep.key = url, label, key


def shown(frame: dict, endpoint: dict) -> bool:
    """An endpoint is listed in a status frame when its label or its host:port appears in a drawn label."""
    hostport = endpoint["url"].split("//", 1)[-1].split("/", 1)[0]
    return any(endpoint["label"] in t or hostport in t for t in texts(frame))


def endpoint_icons(frame: dict, endpoint: dict) -> set[str]:
    hostport = endpoint["url"].split("//", 1)[-1].split("/", 1)[0]
    return {
        i["icon"]
        for i in frame["items"]
        if i["kind"] == "label" and (endpoint["label"] in i.get("text", "") or hostport in i.get("text", ""))
    }


# -- 60 Hz main-thread probe -----------------------------------------------------------------------------------------
class GapProbe:
    """A timer asking to run every 1/60 s; the gaps between its calls are how long the main thread was busy."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.callback = self._tick  # timers match by identity

    def _tick(self):
        self.stamps.append(time.perf_counter())
        return 1 / 60

    def start(self) -> None:
        self.stamps = []
        bpy.app.timers.register(self.callback, first_interval=0.0)

    def stop(self) -> dict:
        if bpy.app.timers.is_registered(self.callback):
            bpy.app.timers.unregister(self.callback)
        gaps = sorted((b - a) * 1000 for a, b in zip(self.stamps, self.stamps[1:], strict=False))
        if not gaps:
            return {"n": 0}
        p99 = gaps[min(len(gaps) - 1, round(0.99 * (len(gaps) - 1)))]
        return {
            "n": len(gaps),
            "p99_ms": round(p99, 1),
            "max_ms": round(gaps[-1], 1),
            "median_ms": round(statistics.median(gaps), 1),
        }


# -- the session, step by step ---------------------------------------------------------------------------------------
EP = CFG["endpoints"]  # comfy_a, comfy_b, wan, llm: {"url", "label"}


def _genbridge_drawn_in(kind: str, since: float) -> bool:
    return any(f["area"] == kind for f in frames_since(since, "GENBRIDGE_PT_"))


def select_genbridge_tabs():
    """Make GenBridge the active sidebar tab in the three editors, as a user would: Ctrl+wheel over the sidebar,
    then, if that did not reach it, clicks down the tab strip.

    Simulated input (Blender runs with --enable-event-simulate, so no real input reaches it) is used only here,
    before any check; afterwards the pointer rests over the 3D Viewport and nothing else is sent."""
    win = window()
    for kind in ("VIEW_3D", "IMAGE_EDITOR", "SEQUENCE_EDITOR"):
        region = region_of(area_of(kind))
        x = region.x + region.width - 8
        found, how = False, ""
        t = now()
        yield 0.3
        found = _genbridge_drawn_in(kind, t)
        y = region.y + region.height // 2
        for _attempt in range(8):
            if found:
                break
            win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
            win.event_simulate(type="WHEELDOWNMOUSE", value="PRESS", x=x, y=y, ctrl=True)
            t = now()
            yield 0.3
            found, how = _genbridge_drawn_in(kind, t), "ctrl+wheel"
        top = region.y + region.height - 6
        for step in range(60):
            if found:
                break
            y = top - 12 * step
            if y < region.y:
                break
            win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
            win.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
            win.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)
            t = now()
            yield 0.25
            found, how = _genbridge_drawn_in(kind, t), f"click at y={y}"
        log(f"GenBridge tab in {kind}: {'shown (' + how + ')' if found else 'NOT shown'}")
        RESULT.setdefault("tabs", {})[kind] = found
    view = region_of(area_of("VIEW_3D"), "WINDOW")
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=view.x + view.width // 2, y=view.y + 40)
    yield 1.0


def setup_screen():
    """Layout workspace: Properties becomes an Image Editor, the Timeline a Sequencer; all sidebars open.
    (Splitting areas from a script crashed Blender 4.3.2 here, so the workspace's own areas are reused.)"""
    win = window()
    for area in win.screen.areas:
        if area.type == "PROPERTIES":
            area.type = "IMAGE_EDITOR"
        elif area.type == "DOPESHEET_EDITOR":
            area.type = "SEQUENCE_EDITOR"
    for kind in ("VIEW_3D", "IMAGE_EDITOR", "SEQUENCE_EDITOR"):
        area = area_of(kind)
        assert area is not None, f"no {kind} area"
        area.spaces.active.show_region_ui = True
    yield 0.5
    RESULT["areas"] = {a.type: [a.x, a.y, a.width, a.height] for a in win.screen.areas}


def step_check(name: str, expect: list[dict], absent: list[dict] = ()):  # type: ignore[assignment]
    """Press Check; the status box must list exactly `expect` with results within 1 s, with no redraw asked for."""
    t = now()
    result = call_op("genbridge.check_services", "VIEW_3D")
    yield from wait_until(lambda: not services_checking(), 15)
    yield 1.2
    picture = shot(name)
    first = None
    for f in status_frames(t):
        labels = " | ".join(texts(f))
        if "Not checked yet" in labels or "Checking" in labels:
            continue
        if all(shown(f, e) for e in expect):
            first = f
            break
    latency = None if first is None else round(first["t"] - t, 3)
    frames = status_frames(t)
    last = frames[-1] if frames else {"items": [], "t": t}
    detail = f"operator {result}; first frame with results {latency} s after Check; {len(frames)} status draws; "
    detail += f"last drawn: {texts(last)[:12]}"
    check(f"{name}_updates_within_1s", latency is not None and latency <= 1.0, detail, picture)
    stale = [e["label"] for e in absent if shown(last, e)]
    missing = [e["label"] for e in expect if not shown(last, e)]
    check(
        f"{name}_lists_exactly_the_configured_endpoints",
        first is not None and not stale and not missing,
        f"missing {missing}, stale {stale}; last drawn: {texts(last)[:16]}",
        picture,
    )
    return last


def steps():
    log(f"Blender {bpy.app.version_string}, Python {sys.version.split()[0]}, background={bpy.app.background}")
    RESULT["enabled_at_startup"] = PKG in bpy.context.preferences.addons
    if not RESULT["enabled_at_startup"]:
        log("the extension is not enabled at startup: install-file did not enable it")
        return
    mod = sys.modules.get(PKG)
    deps = [n for n in ("aiohttp", "websockets", "pydantic") if n in sys.modules]
    RESULT["wrapped"] = install_recorder()
    log(f"recorder on {RESULT['wrapped']}; heavy modules at startup: {deps}; module {getattr(mod, '__file__', '')}")
    yield from setup_screen()
    prefs().text_model = CFG["text_model"]
    set_endpoint("comfyui", EP["comfy_a"]["url"], EP["comfy_a"]["label"])
    set_endpoint("wan2gp", EP["wan"]["url"], EP["wan"]["label"])
    set_endpoint("litellm", EP["llm"]["url"], EP["llm"]["label"])  # no key yet: the proxy will refuse
    yield 1.0
    yield from select_genbridge_tabs()
    shot("start")

    # 1. Check: results within 1 s; the keyless LiteLLM row shows its failure.
    last = yield from step_check("check", [EP["comfy_a"], EP["wan"], EP["llm"]])
    icons = endpoint_icons(last, EP["llm"])
    RESULT["llm_icons_without_key"] = sorted(icons)

    # 2. A key change takes effect without a restart: next Check and the next request use it.
    prefs().litellm_endpoints[0].key = CFG["master_key"]
    yield 0.3
    last = yield from step_check("check_after_key", [EP["comfy_a"], EP["wan"], EP["llm"]])
    icons_after = endpoint_icons(last, EP["llm"])
    t = now()
    call_op(
        "genbridge.generate", "VIEW_3D", task="text", prompt="Say hello", result_name="GuiKeyText", service="litellm"
    )
    yield from wait_until(lambda: _done(t, "text"), 30)
    text = bpy.data.texts.get("GuiKeyText")
    row = _latest_job(t, "text") or {}
    check(
        "key_change_takes_effect_without_restart",
        "ERROR" in RESULT["llm_icons_without_key"]
        and "ERROR" not in icons_after
        and bool(icons_after)
        and row.get("state") == "done"
        and bool(text and text.as_string().strip()),
        f"LiteLLM row icons without key {RESULT['llm_icons_without_key']}, with key {sorted(icons_after)}; "
        f"text job {row.get('state')} {row.get('error')}; text {text.as_string()[:40] if text else None!r}",
        shot("key-change"),
    )

    # 3. A changed ComfyUI URL replaces its row: exactly the configured endpoints are listed.
    set_endpoint("comfyui", EP["comfy_b"]["url"], EP["comfy_b"]["label"])
    yield 0.3
    yield from step_check("check_after_url_change", [EP["comfy_b"], EP["wan"], EP["llm"]], absent=[EP["comfy_a"]])

    # 4. Generate from the Image Editor: the row appears, its progress moves, the image lands in the editor.
    t = now()
    call_op(
        "genbridge.generate",
        "IMAGE_EDITOR",
        task="image",
        prompt="a lighthouse at dawn",
        result_name="GuiImage",
        service="comfyui",
        steps=CFG.get("image_steps", 24),
        width=512,
        height=512,
    )
    ok = yield from wait_until(lambda: "GuiImage" in bpy.data.images, 60)
    yield 1.0
    picture = shot("generate")
    row = _latest_job(t, "image") or {}
    job_id = row.get("id", "")
    rows = [f for f in frames_since(t) if f.get("job_id") == job_id]
    titled = [f for f in frames_since(t, "GENBRIDGE_PT_") if any(job_id[:8] and job_id[:8] in x for x in texts(f))]
    progress = sorted(
        {round(i["factor"], 3) for f in rows + titled for i in f["items"] if i["kind"] == "progress"} - {0.0, 1.0}
    )
    check(
        "generate_row_appears",
        bool(rows or titled),
        f"job {job_id[:8]} {row.get('state')}: {len(rows)} list-row draws, {len(titled)} panel draws naming it",
        picture,
    )
    check(
        "generate_progress_moves",
        len(progress) >= 2,
        f"distinct progress values drawn while running: {progress[:12]}",
        picture,
    )
    space = area_of("IMAGE_EDITOR").spaces.active
    shown_image = space.image.name if space.image else None
    check(
        "image_lands_in_image_editor",
        ok and shown_image == "GuiImage",
        f"image in bpy.data: {ok}; the Image Editor shows {shown_image!r}",
        picture,
    )

    # 5. Storyboard from the Sequencer: shots drawn while it runs, strips at the end.
    scene = bpy.context.scene
    t = now()
    call_op("genbridge.storyboard_from_logline", "SEQUENCE_EDITOR", logline=CFG["logline"], shots=3)
    ok = yield from wait_until(lambda: _storyboard_finished(t), 120, poll=0.2)
    yield 1.0
    picture = shot("storyboard")
    running = [
        f
        for f in frames_since(t, "GENBRIDGE_PT_storyboard")
        if any(x.startswith("Shot 1") or x.startswith("Shot 1 ") for x in texts(f))
        and f["t"] < RESULT.get("sb_done_at", 1e9)
    ]
    names = [s.name for s in strips(scene)]
    check(
        "storyboard_shows_shots_while_running",
        bool(running),
        f"{len(running)} storyboard draws listed the shots before the last job finished "
        f"(finished at {RESULT.get('sb_done_at')})",
        picture,
    )
    check(
        "storyboard_strips_at_the_end",
        ok and len(names) >= 3,
        f"finished: {ok}; {len(names)} strips: {names[:10]}",
        picture,
    )

    # 6. Main-thread gaps: 6 jobs landing, then the same Blender idle while loading an image the same size.
    probe = GapProbe()
    t = now()
    probe.start()
    for i in range(6):
        call_op(
            "genbridge.generate",
            "IMAGE_EDITOR",
            task="image",
            prompt=f"gap probe {i}",
            result_name=f"Gap{i}",
            service="comfyui",
            steps=8,
            width=1024,
            height=1024,
        )
    yield from wait_until(lambda: all(f"Gap{i}" in bpy.data.images for i in range(6)) and _all_finished(t), 90)
    yield 0.5
    RESULT["gaps"]["jobs"] = probe.stop()
    window_s = now() - t
    sources = [bpy.data.images[f"Gap{i}"].filepath for i in range(6) if f"Gap{i}" in bpy.data.images]
    probe.start()
    for i, path in enumerate(sources):
        image = bpy.data.images.load(path, check_existing=False)
        image.name = f"IdleLoad{i}"
        area_of("IMAGE_EDITOR").spaces.active.image = image
        yield max(0.05, window_s / max(1, len(sources)))
    RESULT["gaps"]["idle_loading_same_size"] = probe.stop()
    RESULT["gaps"]["jobs_window_s"] = round(window_s, 2)
    log(f"gaps: {RESULT['gaps']}")

    # 7. Disable: only the main thread is left.
    shot("before-disable")
    addon_utils.disable(PKG, default_set=False)
    threads = [t.name for t in threading.enumerate()]
    check(
        "disable_leaves_only_the_main_thread",
        threads == [threading.main_thread().name],
        f"threads after disable: {threads}",
        shot("disabled"),
    )
    RESULT["draw_counts"] = _draw_counts()


def _latest_job(t: float, task: str) -> dict | None:
    rows = [
        r for r in jobs().values() if r.get("task") == task and r.get("created_at", 0) >= time.time() - (now() - t) - 1
    ]
    return max(rows, key=lambda r: r.get("created_at", 0.0)) if rows else None


def _done(t: float, task: str) -> bool:
    row = _latest_job(t, task)
    return bool(row and row.get("state") in ("done", "failed", "cancelled", "interrupted"))


def _all_finished(t: float) -> bool:
    since = time.time() - (now() - t) - 1
    rows = [r for r in jobs().values() if r.get("created_at", 0) >= since]
    return bool(rows) and all(r.get("state") in ("done", "failed", "cancelled", "interrupted") for r in rows)


def _storyboard_finished(t: float) -> bool:
    if not _all_finished(t):
        return False
    since = time.time() - (now() - t) - 1
    rows = [r for r in jobs().values() if r.get("created_at", 0) >= since]
    if len(rows) < 2 and not any(r.get("state") != "done" for r in rows):
        return False  # the shot list alone, done: keyframes and clips are not queued yet
    RESULT.setdefault("sb_done_at", now())
    return True


def _draw_counts() -> dict:
    counts: dict = {}
    for f in FRAMES:
        key = f"{f['panel']}@{f['area']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


# -- timer plumbing --------------------------------------------------------------------------------------------------
_GEN = steps()


def _finish() -> None:
    RESULT["t_end"] = now()
    RESULT["frames"] = len(FRAMES)
    Path(CFG["result"]).write_text(json.dumps(RESULT, indent=1, default=str))
    with open(CFG["frames_log"], "w") as fh:  # what was drawn, for reading a failure
        last_key = {}
        for f in FRAMES:
            key = json.dumps(f["items"], sort_keys=True)
            if last_key.get(f["panel"]) != key:
                last_key[f["panel"]] = key
                fh.write(json.dumps(f) + "\n")
    log("result written; quitting")
    bpy.ops.wm.quit_blender()


def _tick():
    try:
        delay = next(_GEN)
    except StopIteration:
        _finish()
        return None
    except Exception:
        RESULT["driver_error"] = traceback.format_exc()
        log("driver error:\n" + RESULT["driver_error"])
        _finish()
        return None
    return float(delay)


bpy.app.timers.register(_tick, first_interval=1.0, persistent=True)
log("driver loaded")
