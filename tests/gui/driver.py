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
        value = getattr(args[0], item["prop"], None) if args else None
        if isinstance(value, str | int | float):  # what the field shows (a name, a description, a seed)
            item["value"] = value
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


def _area(context) -> str:
    try:
        return context.area.type if context.area else ""
    except Exception:
        return "?"


# Blender passes a registered function as many arguments as its code object declares (co_argcount), so the
# wrappers must have exactly the product's signatures: no extra defaulted parameters (they would be NULL: a crash).
def _wrap_panel_draw(cls, orig):
    def draw(self, context):
        items: list = []
        try:
            orig(SelfProxy(self, RecLayout(self.layout, items)), context)
        finally:
            FRAMES.append({"t": now(), "panel": cls.bl_idname, "area": _area(context), "items": items})

    return draw


def _wrap_list_draw_item(cls, orig):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        items: list = []
        try:
            orig(
                self, context, RecLayout(layout, items), data, item, icon, active_data, active_property, index, flt_flag
            )
        finally:
            frame = {"t": now(), "panel": cls.bl_idname, "area": _area(context), "items": items}
            FRAMES.append(frame | {"job_id": getattr(item, "job_id", "")})

    return draw_item


def install_recorder() -> list[str]:
    wrapped = []
    for cls in _subclasses(bpy.types.Panel):
        if _ours(cls) and "draw" in dir(cls):
            cls.draw = _wrap_panel_draw(cls, cls.draw)
            wrapped.append(cls.bl_idname)
    for cls in _subclasses(bpy.types.UIList):
        if _ours(cls) and "draw_item" in dir(cls):
            cls.draw_item = _wrap_list_draw_item(cls, cls.draw_item)
            wrapped.append(cls.bl_idname)
    return wrapped


def frames_since(t: float, panel_prefix: str = "", area: str = "") -> list[dict]:
    return [
        f for f in FRAMES if f["t"] >= t and f["panel"].startswith(panel_prefix) and (not area or f["area"] == area)
    ]


def texts(frame: dict) -> list[str]:
    return [i.get("text", "") for i in frame["items"] if i["kind"] == "label"]


def status_frames(t: float, area: str = "VIEW_3D") -> list[dict]:
    """Draws of the status box (the panel holding the Check button) in one editor since `t`."""
    return [
        f
        for f in frames_since(t, "GENBRIDGE_PT_", area)
        if any(i["kind"] == "operator" and i["op"] == "genbridge.check_services" for i in f["items"])
    ]


def says_checking(frame: dict) -> bool:
    return any("checking" in i.get("text", "").lower() for i in frame["items"])


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
        if not name.startswith(PKG):
            continue
        if getattr(mod, "SESSION", None) is not None:
            return mod.SESSION
        holder = getattr(mod, "_SESSION", None)  # blender/__init__.py keeps it in a one-item list
        if isinstance(holder, list) and holder:
            return holder[0]
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


class StackSampler:
    """Samples every thread's innermost Python frames every 20 ms, to say where time goes when the main thread
    stalls (diagnostics only; joined before anything is judged)."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gui-driver-sampler", daemon=True)

    def _run(self) -> None:
        names = {}
        while not self._stop.wait(0.02):
            names.update({t.ident: t.name for t in threading.enumerate()})
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                where = []
                while frame is not None and len(where) < 3:
                    where.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}")
                    frame = frame.f_back
                per = self.counts.setdefault(names.get(ident, str(ident)), {})
                per[" < ".join(where)] = per.get(" < ".join(where), 0) + 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(5)
        return {name: sorted(c.items(), key=lambda kv: -kv[1])[:4] for name, c in self.counts.items()}


class SlowCalls:
    """A main-thread profile hook: every Python or C call entered from Blender's C code (timer callbacks, handlers,
    draw functions) that took longer than `limit_s`, with what it called that was slow (diagnostics only)."""

    def __init__(self, limit_s: float = 0.05) -> None:
        self.limit_s = limit_s
        self.stack: list[tuple[str, float]] = []
        self.slow: list[tuple[float, str]] = []

    def _name(self, frame, event, arg) -> str:
        if event.startswith("c_"):
            return f"C {getattr(arg, '__qualname__', arg)}"
        code = frame.f_code
        return f"{Path(code.co_filename).name}:{code.co_firstlineno} {code.co_qualname}"

    def __call__(self, frame, event, arg) -> None:
        if event in ("call", "c_call"):
            self.stack.append((self._name(frame, event, arg), time.perf_counter()))
        elif event in ("return", "c_return", "c_exception") and self.stack:
            name, t0 = self.stack.pop()
            took = time.perf_counter() - t0
            if took >= self.limit_s and len(self.stack) <= 3:
                self.slow.append((round(took * 1000, 1), "  " * len(self.stack) + name))

    def start(self) -> None:
        sys.setprofile(self)

    def stop(self) -> list:
        sys.setprofile(None)
        return sorted(self.slow, reverse=True)[:12]


def measure_quiet(name: str, seconds: float = 3.0, sample: bool = False):
    """The probe's gaps and GenBridge's draws over `seconds` with nothing asked of Blender."""
    yield 1.0
    probe = GapProbe()
    sampler = StackSampler() if sample else None
    t = now()
    probe.start()
    slow = SlowCalls() if sample else None
    if sampler and slow:
        sampler.start()
        slow.start()
    yield seconds
    RESULT["gaps"][name] = probe.stop() | {"genbridge_draws": len(frames_since(t))}
    if sampler and slow:
        RESULT["gaps"][name]["slow_main_thread_calls_ms"] = slow.stop()
        RESULT["gaps"][name]["stacks"] = sampler.stop()


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
    """Press Check: the status box must change within 1 s of the press ("Checking..." or the results) and show
    the results within 1 s of their arrival, listing exactly `expect`, with no redraw asked for by the test."""
    t = now()
    result = call_op("genbridge.check_services", "VIEW_3D")
    yield from wait_until(lambda: not services_checking(), 20, poll=0.02)
    landed = now()
    yield 1.2
    picture = shot(name)
    frames = status_frames(t)
    first_change = next((f for f in frames if says_checking(f) or all(shown(f, e) for e in expect)), None)
    results = next(
        (f for f in frames if f["t"] >= landed and not says_checking(f) and all(shown(f, e) for e in expect)), None
    )
    changed_in = None if first_change is None else round(first_change["t"] - t, 3)
    drawn_in = None if results is None else round(results["t"] - landed, 3)
    last = frames[-1] if frames else {"items": [], "t": t}
    RESULT.setdefault("check_timings", {})[name] = {
        "status_changed_after_press_s": changed_in,
        "results_arrived_after_press_s": round(landed - t, 3),
        "results_drawn_after_arrival_s": drawn_in,
    }
    detail = (
        f"operator {result}; status box changed {changed_in} s after the press, results arrived after "
        f"{landed - t:.2f} s and were drawn {drawn_in} s later; {len(frames)} status draws; last: {texts(last)[:12]}"
    )
    ok = changed_in is not None and changed_in <= 1.0 and drawn_in is not None and drawn_in <= 1.0
    check(f"{name}_updates_within_1s", ok, detail, picture)
    stale = [e["label"] for e in absent if shown(last, e)]
    missing = [e["label"] for e in expect if not shown(last, e)]
    check(
        f"{name}_lists_exactly_the_configured_endpoints",
        results is not None and not stale and not missing,
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
    set_endpoint("litellm", EP["llm"]["url"], EP["llm"]["label"], CFG["master_key"])
    yield 1.0
    yield from select_genbridge_tabs()
    shot("start")
    # Reference gaps: GenBridge enabled but never used yet (no loop thread), nothing happening.
    yield from measure_quiet("enabled_unused_3s")

    # 1. Check: the status box changes at once and shows the results as they arrive.
    yield from step_check("check", [EP["comfy_a"], EP["wan"], EP["llm"]])

    # 2. Generate from the Image Editor: the row appears, its progress moves, the image lands in the editor.
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
    ok = yield from wait_until(lambda: "GuiImage" in bpy.data.images or _done(t, "image"), 60)
    yield 1.0
    picture = shot("generate")
    row = _latest_job(t, "image") or {}
    job_id = row.get("id", "")
    rows = [f for f in frames_since(t) if job_id and f.get("job_id") == job_id]
    progress = sorted({round(i["factor"], 3) for f in rows for i in f["items"] if i["kind"] == "progress"} - {0.0, 1.0})
    check(
        "generate_row_appears",
        bool(rows),
        f"job {job_id[:8]} {row.get('state')} {row.get('error') or ''}: {len(rows)} job-list row draws",
        picture,
    )
    check(
        "generate_progress_moves",
        len(progress) >= 2,
        f"distinct progress values drawn in its row while running: {progress[:12]}",
        picture,
    )
    space = area_of("IMAGE_EDITOR").spaces.active
    shown_image = space.image.name if space.image else None
    check(
        "image_lands_in_image_editor",
        "GuiImage" in bpy.data.images and shown_image == "GuiImage",
        f"image in bpy.data: {'GuiImage' in bpy.data.images}; the Image Editor shows {shown_image!r}",
        picture,
    )

    # 3. Storyboard from the Sequencer: shots drawn while it runs, strips at the end.
    scene = bpy.context.scene
    t = now()
    call_op("genbridge.storyboard_from_logline", "SEQUENCE_EDITOR", logline=CFG["logline"], shots=2)
    ok = yield from wait_until(lambda: _storyboard_finished(t), 150, poll=0.2)
    yield 1.0
    picture = shot("storyboard")
    done_at = RESULT.get("sb_done_at", 1e9)
    running = [
        f
        for f in frames_since(t, "GENBRIDGE_PT_storyboard")
        if f["t"] < done_at and any(x.startswith("Shot 1") for x in texts(f))
    ]
    names = [s.name for s in strips(scene)]
    failed = [r.get("error") for r in _rows_since(t) if r.get("state") != "done"]
    check(
        "storyboard_shows_shots_while_running",
        bool(running),
        f"{len(running)} storyboard draws listed the shots before the last job finished "
        f"(finished at {RESULT.get('sb_done_at')}); failed jobs: {failed[:2]}",
        picture,
    )
    check(
        "storyboard_strips_at_the_end",
        ok and len(names) >= 4 and not failed,
        f"finished: {ok}; {len(names)} strips: {names[:10]}; failed jobs: {failed[:2]}",
        picture,
    )

    # 3b. The scene as the source (issue 16): the depth ControlNet template with its Depth source, from the sidebar
    #     and through F3 and a script; the image lands and "Use as Texture" puts it on the cube.
    yield from scene_depth_steps()

    # 3c. A cast (issue 22): a character added in the Cast panel, a camera render of the cube as their reference,
    #     a storyboard whose shot list names them: their keyframes carry the reference (see cast_steps).
    yield from cast_steps()

    # 4. A changed ComfyUI URL replaces its row: exactly the configured endpoints are listed.
    set_endpoint("comfyui", EP["comfy_b"]["url"], EP["comfy_b"]["label"])
    yield 0.3
    yield from step_check("check_after_url_change", [EP["comfy_b"], EP["wan"], EP["llm"]], absent=[EP["comfy_a"]])

    # 5. A key change takes effect without a restart, both ways: without the key the proxy refuses, with it
    #    the next Check and the next request succeed.
    prefs().litellm_endpoints[0].key = ""
    yield 0.3
    last = yield from step_check("check_without_key", [EP["comfy_b"], EP["wan"], EP["llm"]])
    icons_without = endpoint_icons(last, EP["llm"])
    prefs().litellm_endpoints[0].key = CFG["master_key"]
    yield 0.3
    last = yield from step_check("check_with_key_again", [EP["comfy_b"], EP["wan"], EP["llm"]])
    icons_with = endpoint_icons(last, EP["llm"])
    t = now()
    call_op(
        "genbridge.generate", "VIEW_3D", task="text", prompt="Say hello", result_name="GuiKeyText", service="litellm"
    )
    yield from wait_until(lambda: _done(t, "text"), 30)
    text = bpy.data.texts.get("GuiKeyText")
    row = _latest_job(t, "text") or {}
    check(
        "key_change_takes_effect_without_restart",
        "ERROR" in icons_without
        and "ERROR" not in icons_with
        and bool(icons_with)
        and row.get("state") == "done"
        and bool(text and text.as_string().strip()),
        f"LiteLLM row icons after removing the key {sorted(icons_without)}, after adding it back "
        f"{sorted(icons_with)}; text job {row.get('state')} {row.get('error') or ''}; "
        f"text {text.as_string()[:40] if text else None!r}",
        shot("key-change"),
    )

    # 6. Main-thread gaps: 6 jobs landing, then the same Blender idle while loading images of the same size.
    size = (1024, 1024)
    reference = Path(CFG["work_dir"]) / "same-size.png"
    image = bpy.data.images.new("GapReference", *size)
    image.filepath_raw, image.file_format = str(reference), "PNG"
    image.save()
    bpy.data.images.remove(image)
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
            width=size[0],
            height=size[1],
        )
    yield from wait_until(lambda: _all_finished(t), 90)
    yield 0.5
    RESULT["gaps"]["jobs"] = probe.stop() | {"genbridge_draws": len(frames_since(t))}
    window_s = now() - t
    landed = [bpy.data.images[f"Gap{i}"] for i in range(6) if f"Gap{i}" in bpy.data.images]
    RESULT["gaps"]["job_image_sizes"] = sorted({tuple(im.size) for im in landed})
    RESULT["gaps"]["jobs_landed"] = len(landed)
    t = now()
    probe.start()
    for i in range(6):
        image = bpy.data.images.load(str(reference), check_existing=False)
        image.name = f"IdleLoad{i}"
        area_of("IMAGE_EDITOR").spaces.active.image = image
        yield max(0.05, window_s / 6)
    RESULT["gaps"]["idle_loading_same_size"] = probe.stop() | {"genbridge_draws": len(frames_since(t))}
    RESULT["gaps"]["window_s"] = round(window_s, 2)
    # And with nothing happening at all: how often are GenBridge's panels drawn when no input and no job?
    yield from measure_quiet("idle_nothing_3s", sample=True)
    log(f"gaps: {RESULT['gaps']}")

    # Captures from the scene made as a modal with Blender's render job (capture_job_steps). Keep it the last step
    # that sends input: its real Esc needs event simulation switched off, and event_simulate fails after it.
    yield from capture_job_steps()
    # First-last frame from two frames and two cameras through the render job (flfcams_steps).
    yield from flfcams_steps()

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
    yield from measure_quiet("after_disable_3s")
    RESULT["draw_counts"] = _draw_counts()


# -- captures as a modal with Blender's render job (issue 16, item 1) -------------------------------------------------
def press_key_for_real(name: str, key: str) -> None:
    """Ask the host to type `key` on the X display (xdotool): a real key press, as from a keyboard. Blender's own
    cancel of a running render (Esc sets its break flag) reacts only to real input, not to event_simulate."""
    (SHOTS / f"{name}.key").write_text(key)


def invoke_generate(area_kind: str, **props):
    """Press Generate as the sidebar button and F3 do: the operator is invoked (INVOKE_DEFAULT)."""
    area = area_of(area_kind)
    with bpy.context.temp_override(window=window(), area=area, region=region_of(area)):
        return bpy.ops.genbridge.generate("INVOKE_DEFAULT", **props)


def capturing_now() -> str:
    s = session()
    return str(getattr(s, "capturing", "") or "") if s is not None else ""


def render_settings(scene) -> dict:
    r = scene.render
    return {
        "engine": r.engine,
        "size": [r.resolution_x, r.resolution_y, r.resolution_percentage],
        "camera": scene.camera.name if scene.camera else None,
        "use_sequencer": r.use_sequencer,
        "render_aa": scene.display.render_aa,
        "film_transparent": r.film_transparent,
    }


def capture_label_draws(since: float, until: float) -> list[dict]:
    """GenBridge draws between `since` and `until` that showed the capture in progress."""
    return [
        f
        for f in frames_since(since, "GENBRIDGE_PT_")
        if f["t"] <= until and any("capturing" in i.get("text", "").lower() for i in f["items"])
    ]


def png_rgb(path: str, points: list[tuple[int, int]]) -> tuple[tuple[int, int], list[list[float]]]:
    """The image's size and the RGB (0..1) at each (x, y) with y = 0 at the top (no numpy: Debian's Blender has
    none)."""
    image = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = image.size
        pixels = image.pixels[:]
    finally:
        bpy.data.images.remove(image)
    return (w, h), [[round(pixels[((h - 1 - y) * w + x) * 4 + c], 3) for c in range(3)] for x, y in points]


def capture_job_steps():
    """(1) An invoked Preview capture at 1280x720 runs as a render job: the sidebar is drawn while it runs, and the
    main thread's largest gap is recorded beside the same capture made by the blocking (exec) path; (2) a Viewport
    capture sends what the 3D View shows; (3) Esc during a capture's render cancels it, queues nothing, restores."""
    scene = bpy.context.scene
    p = bpy.context.preferences
    prefs_before = (p.view.render_display_type, p.is_dirty)
    windows_before = len(bpy.context.window_manager.windows)
    common = {"task": "image", "template": "sd15_img2img", "prompt": "a cottage", "service": "comfyui", "steps": 2}
    # (1) Exec first (the blocking path scripts take), then the same capture invoked, each under the 60 Hz probe.
    figures = {}
    # Preview (Workbench) at 1280x720, then the camera with the scene's engine (Cycles, few samples, 640x360).
    runs = [("exec", "PREVIEW", 1280), ("invoke", "PREVIEW", 1280), ("invoke_again", "PREVIEW", 1280)]
    runs += [("cycles_exec", "CAMERA", 640), ("cycles_invoke", "CAMERA", 640)]
    engine = scene.render.engine
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.device = 16, "CPU"
    scene.cycles.use_denoising = False  # Debian's Blender has no OpenImageDenoise
    settings_before = render_settings(scene)
    for how, source, width in runs:
        yield 0.5
        probe = GapProbe()
        probe.start()
        yield 0.3
        t = now()
        props = dict(common, image_source=source, width=width, height=width * 9 // 16, result_name=f"Capture_{how}")
        start = time.perf_counter()
        if how.endswith("exec"):
            result = call_op("genbridge.generate", "VIEW_3D", **props)
        else:
            result = invoke_generate("VIEW_3D", **props)
        call_ms = (time.perf_counter() - start) * 1000
        yield from wait_until(lambda t=t: _latest_job(t, "image") is not None and not capturing_now(), 60, 0.02)
        ended = now()
        yield 0.3
        gaps = probe.stop()
        row = _latest_job(t, "image") or {}
        s = session()
        path = s.job_folder("image", row["id"]) / "capture-image-camera.png" if row and s else None
        figures[how] = gaps | {
            "operator": sorted(result),
            "operator_call_ms": round(call_ms, 1),
            "capture_s": round(ended - t, 3),
            "capturing_draws": len(capture_label_draws(t, ended)),
            "genbridge_draws": len([f for f in frames_since(t) if f["t"] <= ended]),
            "png": bool(path and path.is_file()),
        }
        if not how.endswith("exec"):  # the capture modal's own main-thread time per step (start render, finish...)
            figures[how]["modal_steps_ms"] = list(getattr(s, "capture_steps_ms", []) or [])
    RESULT["gaps"]["capture_preview_1280x720"] = figures
    invoked = [figures[how] for how in ("invoke", "invoke_again", "cycles_invoke")]
    blocking = [figures[how] for how in ("exec", "cycles_exec")]
    restored = render_settings(scene) == settings_before
    scene.render.engine = engine
    prefs_after = (p.view.render_display_type, p.is_dirty)
    check(
        "capture_job_keeps_the_sidebar_live",
        all(f["operator"] == ["RUNNING_MODAL"] and f["capturing_draws"] >= 1 and f["png"] for f in invoked)
        and all(f["operator"] == ["FINISHED"] and f["png"] for f in blocking)
        and restored
        and prefs_after == prefs_before
        and len(bpy.context.window_manager.windows) == windows_before,
        f"invoked: {invoked}; exec (blocking): {blocking}; settings restored {restored}; preferences "
        f"{prefs_before} -> {prefs_after}; windows {windows_before} -> {len(bpy.context.window_manager.windows)}",
        shot("capture-job"),
    )

    # (1b) Two captures for one job (first and last frame): made in turn, each shown while it is made, one job.
    t = now()
    jobs_before = set(jobs())
    settings_before = render_settings(scene)
    result = invoke_generate(
        "VIEW_3D",
        task="quick_preview",
        template="wan21_flf2v",
        prompt="the cottage from dawn to dusk",
        service="wan2gp",
        sources=json.dumps({"start_image": "PREVIEW", "end_image": "PREVIEW"}),
        width=320,
        height=192,
        result_name="CaptureTwo",
    )
    yield from wait_until(lambda: set(jobs()) - jobs_before and not capturing_now(), 60, poll=0.02)
    ended = now()
    yield 0.5
    new_jobs = sorted(set(jobs()) - jobs_before)
    s = session()
    folder = s.job_folder("quick_preview", new_jobs[0]) if new_jobs and s else None
    files = sorted(p.name for p in folder.iterdir()) if folder and folder.is_dir() else []
    labels = {
        i.get("text", "")
        for f in capture_label_draws(t, ended)
        for i in f["items"]
        if "capturing" in i.get("text", "").lower()
    }
    check(
        "capture_job_makes_each_capture_in_turn",
        sorted(result) == ["RUNNING_MODAL"]
        and len(new_jobs) == 1
        and {"capture-start_image-camera.png", "capture-end_image-camera.png"} <= set(files)
        and any("(1 of 2)" in x for x in labels)
        and any("(2 of 2)" in x for x in labels)
        and render_settings(scene) == settings_before,
        f"operator {sorted(result)}; jobs {[j[:8] for j in new_jobs]}; files {files}; drawn {sorted(labels)}",
        shot("capture-two"),
    )

    # (2) Viewport: solid shading, one flat colour on the objects, another as the background, seen through the camera.
    area = area_of("VIEW_3D")
    space = area.spaces.active
    shading = space.shading
    kept = (shading.type, shading.light, shading.color_type, tuple(shading.single_color), shading.background_type)
    kept_bg, kept_view = tuple(shading.background_color), space.region_3d.view_perspective
    shading.type, shading.light, shading.color_type = "SOLID", "FLAT", "SINGLE"
    shading.single_color = (1.0, 0.0, 0.0)
    shading.background_type, shading.background_color = "VIEWPORT", (0.0, 1.0, 0.0)
    space.region_3d.view_perspective = "CAMERA"
    yield 0.5
    t = now()
    props = dict(common, image_source="VIEWPORT", width=320, height=180, result_name="CaptureViewport")
    result = invoke_generate("VIEW_3D", **props)
    yield from wait_until(lambda: _latest_job(t, "image") is not None and not capturing_now(), 30, poll=0.05)
    picture = shot("viewport-capture")
    row = _latest_job(t, "image") or {}
    s = session()
    path = s.job_folder("image", row["id"]) / "capture-image-viewport.png" if row and s else None
    detail = f"operator {sorted(result)}; job {row.get('id', '')[:8]}; file {path}"
    ok = False
    if path and path.is_file():
        (w, h), (centre, corner) = png_rgb(str(path), [(160, 90), (3, 3)])
        red = centre[0] > centre[1] + 0.2 and centre[0] > centre[2] + 0.2
        green = corner[1] > corner[0] + 0.2 and corner[1] > corner[2] + 0.2
        ok = (w, h) == (320, 180) and red and green
        detail += f"; {w}x{h}, centre {centre} (red {red}), corner {corner} (green {green})"
    yield from wait_until(lambda: bool((session().jobs.get(row.get("id", "")) or {}).get("captures")), 10)
    record = ((session().jobs.get(row.get("id", "")) or {}).get("captures") or [{}])[0]
    provenance = {k: record.get(k) for k in ("source", "view", "shading", "camera", "width", "height")}
    ok = (
        ok
        and provenance["source"] == "viewport"
        and provenance["view"] == "CAMERA"
        and provenance["shading"] == "SOLID"
    )
    check("viewport_capture_sends_what_the_view_shows", ok, f"{detail}; provenance {provenance}", picture)
    shading.type, shading.light, shading.color_type, shading.single_color, shading.background_type = kept
    shading.background_color, space.region_3d.view_perspective = kept_bg, kept_view

    # (3) Esc. (a) Pressed at once (simulated): the capture's own modal takes it before anything renders.
    jobs_before = set(jobs())
    settings_before = render_settings(scene)
    t = now()
    props = dict(common, image_source="PREVIEW", width=1280, height=720, result_name="CaptureEscEarly")
    result = invoke_generate("VIEW_3D", **props)
    window().event_simulate(type="ESC", value="PRESS")
    window().event_simulate(type="ESC", value="RELEASE")
    yield from wait_until(lambda: not capturing_now(), 30, poll=0.05)
    yield 0.5
    queued = set(jobs()) - jobs_before
    check(
        "esc_at_once_cancels_the_capture",
        sorted(result) == ["RUNNING_MODAL"] and not queued and render_settings(scene) == settings_before,
        f"operator {sorted(result)}; jobs queued {sorted(queued)}; settings {render_settings(scene)}",
        shot("esc-early"),
    )
    # (b) Pressed for real (xdotool) while the capture's render job runs (Cycles at 1280x720, bounded by a time
    # limit): Blender's running render swallows Esc and stops itself; the capture must follow, restore, queue nothing.
    # Real input reaches Blender only with event simulation off, so this is the last step that needed it.
    bpy.app.use_event_simulate = False
    scene.render.engine = "CYCLES"
    scene.cycles.samples, scene.cycles.device, scene.cycles.time_limit = 100000, "CPU", 20.0
    scene.cycles.use_denoising = False
    settings_before = render_settings(scene)
    jobs_before = set(jobs())
    yield 0.5
    props = dict(common, image_source="CAMERA", width=1280, height=720, result_name="CaptureEsc")
    result = invoke_generate("VIEW_3D", **props)
    rendering = yield from wait_until(lambda: bpy.app.is_job_running("RENDER"), 10, poll=0.02)
    shot("capture-running")  # the status bar and the Generate section while the capture renders
    yield 1.5
    press_key_for_real("esc", "Escape")
    pressed = now()
    yield from wait_until(lambda: not capturing_now(), 60, poll=0.05)
    stopped = now()
    yield 0.5
    picture = shot("esc-cancelled")
    queued = set(jobs()) - jobs_before
    after = render_settings(scene)
    check(
        "esc_cancels_a_capture_and_restores_settings",
        sorted(result) == ["RUNNING_MODAL"]
        and rendering
        and not queued
        and after == settings_before
        and not bpy.app.is_job_running("RENDER")
        and stopped - pressed < 15,  # the time limit would end the render after 20 s
        f"operator {sorted(result)}; render job seen running {rendering}; stopped {stopped - pressed:.2f} s after "
        f"Esc; jobs queued {sorted(queued)}; settings {settings_before} -> {after}",
        picture,
    )
    scene.cycles.samples, scene.cycles.time_limit = 64, 0.0
    RESULT["gaps"]["capture_esc_stop_s"] = round(stopped - pressed, 2)


def _pixels(path: str) -> list[float]:
    image = bpy.data.images.load(path, check_existing=False)
    try:
        return list(image.pixels[:])
    finally:
        bpy.data.images.remove(image)


def flfcams_steps():
    """First-last frame from the scene, invoked like the button (each capture a render job): a marker keyframed from
    one side to the other between the scene's first and last frame, the playhead between them; wan21_flf2v with the
    start from the active camera (its default frame: Scene Start) and the end from a second camera at Scene End.
    The two PNGs differ, the provenance names both cameras and frames, and the frame, the evaluated marker and the
    active camera are as before (the frame is put back with frame_set)."""
    scene = bpy.context.scene
    kept_range, kept_frame, kept_camera = (scene.frame_start, scene.frame_end), scene.frame_current, scene.camera
    mesh = bpy.data.meshes.new("FLF Marker")
    mesh.from_pydata([(-0.6, -0.6, 0), (0.6, -0.6, 0), (0.6, 0.6, 0), (-0.6, 0.6, 0)], [], [(0, 1, 2, 3)])
    marker = bpy.data.objects.new("FLF Marker", mesh)
    scene.collection.objects.link(marker)
    marker.location = (-2.0, 0.0, 1.5)
    marker.keyframe_insert("location", index=0, frame=1)
    marker.location.x = 2.0
    marker.keyframe_insert("location", index=0, frame=10)
    cam_b = bpy.data.objects.new("FLF Cam B", bpy.data.cameras.new("FLF Cam B"))
    scene.collection.objects.link(cam_b)
    if kept_camera is not None:
        cam_b.matrix_world = kept_camera.matrix_world.copy()
        cam_b.location.z += 1.0
    scene.frame_start, scene.frame_end = 1, 10
    scene.frame_set(4)
    yield 0.5
    before = (scene.frame_current, scene.camera.name if scene.camera else None, round(marker.matrix_world[0][3], 4))
    jobs_before = set(jobs())
    sources = {"start_image": "PREVIEW", "end_image": {"source": "PREVIEW", "camera": "FLF Cam B", "frame": "end"}}
    result = invoke_generate(
        "VIEW_3D",
        task="quick_preview",
        template="wan21_flf2v",
        prompt="the marker slides across",
        service="wan2gp",
        sources=json.dumps(sources),
        width=320,
        height=192,
        result_name="FLFCams",
    )
    yield from wait_until(lambda: set(jobs()) - jobs_before and not capturing_now(), 60, poll=0.02)
    yield 0.5
    after = (scene.frame_current, scene.camera.name if scene.camera else None, round(marker.matrix_world[0][3], 4))
    new_jobs = sorted(set(jobs()) - jobs_before)
    yield from wait_until(lambda: bool((session().jobs.get(new_jobs[0] if new_jobs else "") or {}).get("captures")), 10)
    job = (session().jobs.get(new_jobs[0]) or {}) if new_jobs else {}
    records = {r.get("param"): r for r in job.get("captures") or []}
    seen = {p: (r.get("camera"), r.get("frame")) for p, r in records.items()}
    paths = [records.get(p, {}).get("path", "") for p in ("start_image", "end_image")]
    differ = 0.0
    if all(path and Path(path).is_file() for path in paths):
        first, last = (_pixels(path) for path in paths)
        differ = sum(abs(a - b) for a, b in zip(first, last, strict=False)) / max(len(first), 1)
    RESULT["gaps"]["flfcams_mean_pixel_difference"] = round(differ, 4)
    camera_name = kept_camera.name if kept_camera is not None else None
    check(
        "flf_captures_two_frames_and_two_cameras",
        sorted(result) == ["RUNNING_MODAL"]
        and len(new_jobs) == 1
        and seen == {"start_image": (camera_name, 1), "end_image": ("FLF Cam B", 10)}
        and differ > 0.001
        and after == before,
        f"operator {sorted(result)}; jobs {[j[:8] for j in new_jobs]}; captured {seen}; mean pixel difference "
        f"{differ:.4f}; frame/camera/marker {before} -> {after}",
        shot("flfcams"),
    )
    action = marker.animation_data.action if marker.animation_data else None
    bpy.data.objects.remove(marker)
    bpy.data.meshes.remove(mesh)
    if action is not None:
        bpy.data.actions.remove(action)
    data = cam_b.data
    bpy.data.objects.remove(cam_b)
    bpy.data.cameras.remove(data)
    scene.frame_start, scene.frame_end = kept_range
    scene.frame_set(kept_frame)


FINISHED = ("done", "failed", "cancelled", "interrupted")


def _rows_since(t: float) -> list[dict]:
    """Job rows created since driver time `t` (job rows carry wall-clock `created_at`; 1 s of slack)."""
    since = time.time() - (now() - t) - 1
    return [r for r in jobs().values() if r.get("created_at", 0) >= since]


def _latest_job(t: float, task: str) -> dict | None:
    rows = [r for r in _rows_since(t) if r.get("task") == task]
    return max(rows, key=lambda r: r.get("created_at", 0.0)) if rows else None


def _done(t: float, task: str) -> bool:
    row = _latest_job(t, task)
    return bool(row and row.get("state") in FINISHED)


def _all_finished(t: float) -> bool:
    rows = _rows_since(t)
    return bool(rows) and all(r.get("state") in FINISHED for r in rows)


def _storyboard_finished(t: float) -> bool:
    """Every storyboard job finished (the shot list alone is not the end: keyframes and clips follow it)."""
    rows = _rows_since(t)
    if not _all_finished(t) or (len(rows) < 2 and all(r.get("state") == "done" for r in rows)):
        return False
    RESULT.setdefault("sb_done_at", now())
    return True


def _draw_counts() -> dict:
    counts: dict = {}
    for f in FRAMES:
        key = f"{f['panel']}@{f['area']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


# -- the scene as the source (issue 16) ------------------------------------------------------------------------------
# A user's scene (cube, camera, light), the SD 1.5 depth ControlNet template with its image fed by the camera's depth
# pass, Generate from the 3D Viewport's sidebar, then through F3 (Blender's menu search, typed) and a script's
# operator properties; each result lands and "Use as Texture" (the job's own button) puts it on the cube.
DEPTH_TEMPLATE = "sd15_depth_controlnet"
DEPTH_STEPS = 25  # 0.2 s a step: the bar moves for ~5 s (with 10, a loaded run once drew only one value in 2 s)
SCENE_SIZE = 512  # the template's own size (SD 1.5)
SDXL_TEMPLATE, SDXL_SIZE = "sdxl_depth_controlnet", 1024  # the script's job: the other bundled depth template


def invoke_op(op_path: str, area_kind: str, region_kind: str = "UI", **props):
    """Run an operator as a button or menu item does: INVOKE_DEFAULT (its invoke, modal or not) in that region."""
    area = area_of(area_kind)
    with bpy.context.temp_override(window=window(), area=area, region=region_of(area, region_kind)):
        module, name = op_path.split(".")
        return getattr(getattr(bpy.ops, module), name)("INVOKE_DEFAULT", **props)


def materials_of_meshes(scene) -> dict[str, list]:
    return {o.name: [m.name if m else None for m in o.data.materials] for o in scene.objects if o.type == "MESH"}


def scene_setup():
    """The startup file's cube, camera and light (made like the startup file's if missing); the cube selected and
    active, the camera the scene's. Returns (cube, camera)."""
    import bmesh

    scene = bpy.context.scene
    cube = bpy.data.objects.get("Cube")
    if cube is None or cube.type != "MESH":
        mesh = bpy.data.meshes.new("Cube")
        bm = bmesh.new()
        bmesh.ops.create_cube(bm, size=2.0)
        bm.to_mesh(mesh)
        bm.free()
        cube = bpy.data.objects.new("Cube", mesh)
    camera = bpy.data.objects.get("Camera")
    if camera is None or camera.type != "CAMERA":
        camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
        camera.location, camera.rotation_euler = (7.36, -6.93, 4.96), (1.109, 0.0, 0.815)
    light = bpy.data.objects.get("Light")
    if light is None or light.type != "LIGHT":
        light = bpy.data.objects.new("Light", bpy.data.lights.new("Light", "POINT"))
        light.location = (4.08, 1.0, 5.9)
    for obj in (cube, camera, light):
        if obj.name not in scene.objects:
            scene.collection.objects.link(obj)
    for obj in scene.objects:
        obj.select_set(False)
    cube.select_set(True)
    bpy.context.view_layer.objects.active = cube
    scene.camera = camera
    return cube, camera


def select_job(job_id: str) -> None:
    """What a click on the job's row does: make it the list's active row (its details are drawn below the list)."""
    wm = bpy.context.window_manager
    ids = [r.job_id for r in wm.genbridge_jobs]
    if job_id in ids and wm.genbridge_job_index != ids.index(job_id):
        wm.genbridge_job_index = ids.index(job_id)


def menu_search(text: str, shot_name: str = "scene-f3-search"):
    """F3 over the 3D Viewport, type `text`, Enter: Blender's menu search runs its first match, as a user does.
    Returns the screenshot of the search popup with the text typed."""
    win = window()
    view = region_of(area_of("VIEW_3D"), "WINDOW")
    x, y = view.x + view.width // 2, view.y + view.height // 2

    def key(kind: str, unicode: str | None = None) -> None:
        win.event_simulate(type=kind, value="PRESS", unicode=unicode, x=x, y=y)
        win.event_simulate(type=kind, value="RELEASE", x=x, y=y)

    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    yield 0.3
    key("F3")
    yield 0.8
    for char in text:
        key("F24", unicode=char)  # a key bound to nothing, carrying the character (as Blender's own UI tests do)
        yield 0.03
    yield 0.8
    picture = shot(shot_name)
    yield from wait_until(lambda: not (SHOTS / f"{picture}.req").exists(), 10, poll=0.1)
    key("RET")
    yield 0.3
    return picture


def png_size(path: Path) -> tuple[int, int]:
    import struct

    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return (0, 0)
    return struct.unpack(">II", head[16:24])


def depth_brightness(path: Path) -> tuple[float, float]:
    """(centre, corner) grey of a depth PNG: the cube fills the centre of the default camera's view, the corner
    sees the far background (near = white)."""
    from array import array  # Debian's Blender has no numpy

    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = image.size
        px = array("f", bytes(4 * w * h * 4))
        image.pixels.foreach_get(px)
        return float(px[((h // 2) * w + w // 2) * 4]), float(px[(2 * w + 2) * 4])
    finally:
        bpy.data.images.remove(image)


def uploaded_to_comfyui(row: dict, local: Path) -> tuple[bool, str]:
    """The prompt the job sent (ComfyUI's /history) loads an uploaded input whose bytes (ComfyUI's /view of the
    input folder) are the captured PNG's."""
    import hashlib
    import re
    import urllib.parse
    import urllib.request

    want = hashlib.sha256(local.read_bytes()).hexdigest()
    for url, prompt_id in (row.get("remote_ids") or {}).items():
        if not prompt_id:
            continue
        base = url.rstrip("/")
        with urllib.request.urlopen(f"{base}/history/{prompt_id}", timeout=5) as reply:
            entry = json.loads(reply.read()).get(prompt_id) or {}
        graph = (entry.get("prompt") or [None, None, {}])[2]
        names = [n["inputs"].get("image") for n in graph.values() if n.get("class_type") == "LoadImage"]
        for name in names:
            plain = re.sub(r" \[(input|output|temp)\]$", "", str(name))
            sub, _, fname = plain.rpartition("/")
            query = urllib.parse.urlencode({"filename": fname, "subfolder": sub, "type": "input"})
            with urllib.request.urlopen(f"{base}/view?{query}", timeout=5) as reply:
                got = hashlib.sha256(reply.read()).hexdigest()
            same = "the same bytes as" if got == want else "OTHER bytes than"
            return got == want, f"prompt {prompt_id[:8]} on {base} loads input {plain!r}: {same} {local.name}"
    return False, f"no prompt of this job found on the stand-in (remote ids {row.get('remote_ids')})"


def texture_on(obj, image) -> tuple[bool, str]:
    """The object's active material has an Image Texture of `image` feeding the Principled BSDF's Base Color."""
    mat = obj.active_material
    if mat is None or mat.node_tree is None:
        return False, f"{obj.name} has no node material ({mat.name if mat else None})"
    tex = [n for n in mat.node_tree.nodes if n.type == "TEX_IMAGE" and n.image == image]
    fed = [
        link
        for link in mat.node_tree.links
        if link.from_node in tex and link.to_node.type == "BSDF_PRINCIPLED" and link.to_socket.name == "Base Color"
    ]
    shown = [n.image.name if n.image else None for n in mat.node_tree.nodes if n.type == "TEX_IMAGE"]
    return bool(fed), f"{obj.name}'s material {mat.name!r}: image textures {shown}, Base Color fed: {bool(fed)}"


def run_depth_job(t: float, label: str):
    """Wait for the job a Generate started at `t` (after its capture, whichever way the operator runs it), select
    it as a user clicks its row, and wait until it finished. Returns its row ({} if none appeared)."""
    appeared = yield from wait_until(lambda: _latest_job(t, "image") is not None, 30, poll=0.05)
    if not appeared:
        log(f"{label}: no job appeared")
        return {}
    job_id = _latest_job(t, "image")["id"]
    select_job(job_id)
    yield from wait_until(lambda: jobs().get(job_id, {}).get("state") in FINISHED, 120, poll=0.1)
    yield 1.0  # its landing and the redraw that shows it
    select_job(job_id)
    yield 0.5
    return jobs().get(job_id, {})


def judge_depth_job(
    name: str,
    t: float,
    row: dict,
    result_name: str,
    picture: str,
    *,
    live: bool,
    template: str = DEPTH_TEMPLATE,
    side: int = SCENE_SIZE,
) -> str | None:
    """The checks every depth job gets: its capture (provenance drawn, PNG in the job's folder, uploaded), its
    image landed; with `live`, its row drawn in the 3D Viewport's sidebar with the progress moving. Returns the
    landed image's name or None."""
    job_id = row.get("id", "")
    state = f"job {job_id[:8]} {row.get('state')} {(row.get('error') or {}).get('message', '')}"
    if live:
        drawn = [f for f in frames_since(t, area="VIEW_3D") if job_id and f.get("job_id") == job_id]
        progress = sorted(
            {round(i["factor"], 3) for f in drawn for i in f["items"] if i["kind"] == "progress"} - {0.0, 1.0}
        )
        check(
            f"{name}_sidebar_live",
            bool(drawn) and len(progress) >= 2,
            f"{state}: {len(drawn)} draws of its row in the 3D Viewport's job list; distinct progress values "
            f"drawn while it ran: {progress[:12]}",
            picture,
        )
    details = [
        " ".join(texts(f))
        for f in frames_since(t, "GENBRIDGE_PT_view3d_jobs", "VIEW_3D")
        if result_name in " ".join(texts(f))
    ]
    provenance = [d for d in details if "depth pass of Camera" in d]
    check(
        f"{name}_capture_provenance_shown",
        bool(provenance),
        f"{len(details)} detail-box draws of {result_name}; with the capture's provenance: "
        f"{provenance[-1][provenance[-1].find('image:') :][:80] if provenance else None!r}",
        picture,
    )
    record = next((c for c in row.get("captures") or () if c.get("source") == "depth"), {})
    path = Path(record.get("path") or "/nonexistent")
    size = png_size(path) if path.is_file() else (0, 0)
    centre, corner = depth_brightness(path) if size[0] else (0.0, 0.0)
    check(
        f"{name}_depth_png_in_job_folder",
        path.is_file()
        and job_id in path.parent.name
        and size == (side, side)
        and record.get("camera") == "Camera"
        and centre > corner + 0.2,
        f"{state}: capture {path} (in the job's folder: {job_id in path.parent.name}), PNG {size}, camera "
        f"{record.get('camera')!r}, frame {record.get('frame')}; grey at the centre (cube) {centre:.2f}, "
        f"in the corner (far) {corner:.2f}",
        picture,
    )
    try:
        sent, how = uploaded_to_comfyui(row, path) if path.is_file() else (False, "no capture file")
    except OSError as exc:
        sent, how = False, f"asking the stand-in failed: {exc!r}"
    check(f"{name}_input_uploaded_to_comfyui", sent, how, picture)
    image_name = row.get("image_name") or ""
    image = bpy.data.images.get(image_name) if image_name else None
    landed_from = image.get("genbridge_template") if image is not None else None
    check(
        f"{name}_image_lands",
        row.get("state") == "done" and image is not None and landed_from == template,
        f"{state}: image {image_name!r} in bpy.data: {image is not None}, made with template {landed_from!r}, "
        f"file {image.filepath if image else None}",
        picture,
    )
    return image_name if image is not None else None


def use_as_texture_from_details(name: str, t: float, image_name: str, cube, before: dict, **invoke):
    """Press the job's own "Use as Texture" (drawn in its details) with the cube selected, or (`f3=True`) find
    "Use as Texture" with F3 and run it with no image named (it takes the selected job's): the cube's material
    shows the image, and nothing else changed."""
    for obj in bpy.context.scene.objects:
        obj.select_set(obj == cube)
    bpy.context.view_layer.objects.active = cube
    buttons = [
        f
        for f in frames_since(t, "GENBRIDGE_PT_view3d_jobs", "VIEW_3D")
        if any(i["kind"] == "operator" and i["op"] == "genbridge.use_as_texture" for i in f["items"])
    ]
    picture = ""
    if invoke.get("f3"):
        textures = len(bpy.data.materials)
        picture = yield from menu_search("genbridge use as texture", f"{name}-f3-texture-search")
        yield from wait_until(lambda: len(bpy.data.materials) > textures, 10, poll=0.1)
        result = {"FINISHED"} if len(bpy.data.materials) > textures else "no new material after F3 and Enter"
    else:
        try:
            result = invoke_op(
                "genbridge.use_as_texture", invoke.get("area", "VIEW_3D"), invoke.get("region", "UI"), image=image_name
            )
        except RuntimeError as exc:
            result = f"error: {exc}"
    yield 1.0
    shading = area_of("VIEW_3D").spaces.active.shading
    shading.type, shading.color_type = "SOLID", "TEXTURE"  # the viewport shows the texture (no EEVEE needed)
    yield 1.0
    shot_taken = shot(f"{name}-texture")
    on_cube, how = texture_on(cube, bpy.data.images.get(image_name))
    after = materials_of_meshes(bpy.context.scene)
    changed = sorted(n for n in after if after[n] != before.get(n))
    need_button = invoke.get("region", "UI") == "UI" and not invoke.get("f3")
    check(
        f"{name}_use_as_texture_puts_it_on_the_cube",
        result == {"FINISHED"} and on_cube and changed == [cube.name] and (bool(buttons) or not need_button),
        f"operator {result}; {how}; objects whose materials changed: {changed}; the job's details drew "
        f"'Use as Texture' {len(buttons)} times" + (f"; found with F3 (see {picture})" if picture else ""),
        shot_taken,
    )
    return after


def scene_depth_steps():
    scene = bpy.context.scene
    settings = scene.genbridge
    saved = {k: getattr(settings, k) for k in ("template", "service", "result_name")}
    cube, _camera = scene_setup()
    yield 0.5
    log(
        f"scene: {[o.name for o in scene.objects]}, selected {[o.name for o in bpy.context.selected_objects]}, "
        f"camera {scene.camera.name if scene.camera else None}"
    )

    # The template as its search sets it, its image from the Depth source, a prompt, few steps, its size.
    t = now()
    picked = call_op("genbridge.pick_template", "VIEW_3D", template=DEPTH_TEMPLATE)
    rows = {r.name: r for r in settings.params}
    if "image" in rows:
        rows["image"].image_source = "DEPTH"
        rows["prompt"].string_value = "a stone cottage on a hill, golden hour"
        rows["steps"].int_value = DEPTH_STEPS
        rows["width"].int_value = rows["height"].int_value = SCENE_SIZE
    settings.service, settings.result_name = "comfyui", "GuiDepth"
    yield 1.5
    picture = shot("scene-depth-template")
    drawn = frames_since(t, "GENBRIDGE_PT_view3d_generate", "VIEW_3D")
    last = drawn[-1]["items"] if drawn else []
    props = {i.get("prop") for i in last if i["kind"] == "prop"}
    picker = [i for i in last if i.get("prop") == "image_source"]
    typed = {"string_value", "int_value", "float_value", "choice", "image_source"}
    check(
        "scene_template_fields_drawn",
        picked == {"FINISHED"}
        and typed <= props
        and "prompt" not in props
        and [i.get("text") for i in picker] == ["Image *"]
        and "Prompt *" in [i.get("text") for i in last if i["kind"] == "label"]
        and settings.params_template == DEPTH_TEMPLATE
        and rows.get("image") is not None
        and rows["image"].image_source == "DEPTH",
        f"pick_template {picked}; rows {[(r.name, r.kind) for r in settings.params][:8]}...; the Generate panel "
        f"drew {len(drawn)} times, last with fields {sorted(p for p in props if p)} and the source picker "
        f"{[i.get('text') for i in picker]}; image source {rows['image'].image_source if 'image' in rows else None}",
        picture,
    )

    # Generate from the 3D Viewport's sidebar, as its button does.
    # Figures, not a verdict: the 60 Hz probe's gaps from the press until the job finished (the capture's share
    # is the operator call when it captures synchronously).
    before = materials_of_meshes(scene)
    probe = GapProbe()
    probe.start()
    t = now()
    started = time.perf_counter()
    try:
        pressed = invoke_op("genbridge.generate", "VIEW_3D", "UI")
    except RuntimeError as exc:
        pressed = f"error: {exc}"
    call_ms = round((time.perf_counter() - started) * 1000, 1)
    log(f"Generate (sidebar): {pressed} after {call_ms} ms")
    row = yield from run_depth_job(t, "sidebar")
    s_ = session()  # the depth capture's main-thread steps (its PNG is encoded in a worker thread: passthread)
    RESULT["gaps"]["scene_depth_capture_and_job"] = probe.stop() | {
        "operator_call_ms": call_ms,
        "capture_steps_ms": list(getattr(s_, "capture_steps_ms", []) or []) if s_ is not None else [],
        "genbridge_draws": len(frames_since(t)),
    }
    picture = shot("scene-depth-landed")
    image_name = judge_depth_job("scene_sidebar", t, row, "GuiDepth", picture, live=True)
    if image_name:
        before = yield from use_as_texture_from_details("scene_sidebar", t, image_name, cube, before)

    # The same through F3: Blender's menu search over the 3D Viewport (no GenBridge sidebar there), typed.
    settings.result_name = "GuiDepthF3"
    if "prompt" in rows:
        rows["prompt"].string_value = "the same cottage in winter"
    t = now()
    searched = yield from menu_search("genbridge generate")
    row = yield from run_depth_job(t, "F3")
    if not row:
        for _ in range(2):  # leave no popup open for the steps after this one
            window().event_simulate(type="ESC", value="PRESS")
            window().event_simulate(type="ESC", value="RELEASE")
        yield 0.5
    target = (row.get("target") or {}).get("name")
    check(
        "scene_f3_menu_search_runs_generate",
        bool(row) and target == "GuiDepthF3",
        f"after F3, 'genbridge generate' and Enter: job {row.get('id', '')[:8]} {row.get('state')} named {target!r}",
        searched,
    )
    picture = shot("scene-f3-landed")
    image_name = judge_depth_job("scene_f3", t, row, "GuiDepthF3", picture, live=False) if row else None
    if image_name:
        before = yield from use_as_texture_from_details("scene_f3", t, image_name, cube, before, f3=True)

    # A script through the operator's properties only: the panel's template cleared, the other bundled depth
    # template (SDXL, at its 1024x1024), its Depth source and values given to the operator, invoked in the viewport
    # (no sidebar there).
    settings.template = ""
    t = now()
    try:
        called = invoke_op(
            "genbridge.generate",
            "VIEW_3D",
            "WINDOW",
            template=SDXL_TEMPLATE,
            sources=json.dumps({"image": "DEPTH"}),
            params=json.dumps({"prompt": "the cottage at night", "steps": DEPTH_STEPS}),
            width=SDXL_SIZE,
            height=SDXL_SIZE,
            service="comfyui",
            result_name="GuiDepthScript",
        )
    except (RuntimeError, TypeError) as exc:
        called = f"error: {exc}"
    log(f"Generate (operator properties): {called}")
    row = yield from run_depth_job(t, "script")
    picture = shot("scene-script-landed")
    inputs = row.get("inputs") or {}
    check(
        "scene_script_properties_reach_the_job",
        row.get("template") == SDXL_TEMPLATE
        and inputs.get("prompt") == "the cottage at night"
        and inputs.get("steps") == DEPTH_STEPS,
        f"operator {called}; job {row.get('id', '')[:8]} template {row.get('template')!r}, prompt "
        f"{inputs.get('prompt')!r}, steps {inputs.get('steps')!r}",
        picture,
    )
    image_name = None
    if row:
        image_name = judge_depth_job(
            "scene_script", t, row, "GuiDepthScript", picture, live=False, template=SDXL_TEMPLATE, side=SDXL_SIZE
        )
    if image_name:
        yield from use_as_texture_from_details(
            "scene_script", t, image_name, cube, before, area="VIEW_3D", region="WINDOW"
        )
    for key, value in saved.items():  # the later steps send their own settings
        setattr(settings, key, value)
    yield 0.5


# -- a cast for the storyboard (issue 22) -----------------------------------------------------------------------------
# As a user in the 3D Viewport's sidebar: open the Cast panel (it starts closed), add a character (the Add button's
# operator, the name as its redo panel takes it, the description typed into the field), give them a reference by a
# camera render of the cube (the "Camera" button's operator), then Storyboard (button, dialog, Enter) with a shot
# list that names them: their keyframes are `character_image` jobs that upload exactly that render.
CAST_NAME = "the keeper"  # the storyboard-mock shot list names "the keeper" in its third shot
CAST_DESCRIPTION = "an old lighthouse keeper in a yellow oilskin coat"
CAST_SHOTS = 3
CAST_PANEL = "GENBRIDGE_PT_cast_view3d"


def _last_redraw(area_kind: str) -> set[str]:
    """The GenBridge panels drawn in the last redraw of that editor's sidebar."""
    drawn = [f for f in FRAMES if f["panel"].startswith("GENBRIDGE_PT_") and f["area"] == area_kind]
    if not drawn:
        return set()
    last = drawn[-1]["t"]
    return {f["panel"] for f in drawn if f["t"] >= last - 0.05}


def open_sidebar_panel(area_kind: str, idname: str):
    """Open a closed panel as a user does with the keyboard: the pointer over its header, A (Blender toggles the
    panel under the pointer; A over anything else in a sidebar does nothing). The sidebar is scrolled to its end
    first and the header looked for from the bottom up (each press waits for the redraw a toggle makes: software GL
    redraws slowly); a header of another panel toggled on the way is toggled back. The top of the sidebar (the
    GenBridge panel's own header when nothing is scrolled) is never pressed. Returns (opened, how)."""
    win = window()
    region = region_of(area_of(area_kind))
    x = region.x + region.width // 2
    for _ in range(30):  # scrolled to the end: the Cast panel is the tab's last
        win.event_simulate(type="WHEELDOWNMOUSE", value="PRESS", x=x, y=region.y + region.height // 2)
    yield 0.8
    if any(f["panel"] == idname for f in frames_since(now() - 0.8)):
        return True, "already open"
    before = _last_redraw(area_kind)
    for y in range(region.y + 6, region.y + region.height - 60, 8):
        t = now()
        win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
        win.event_simulate(type="A", value="PRESS", x=x, y=y)
        win.event_simulate(type="A", value="RELEASE", x=x, y=y)
        yield from wait_until(lambda t=t: bool(frames_since(t, "GENBRIDGE_PT_", area_kind)), 0.6, poll=0.05)
        yield 0.1  # the rest of that redraw
        drawn = {f["panel"] for f in frames_since(t, "GENBRIDGE_PT_", area_kind)}
        if idname in drawn:
            return True, f"A over its header {y - region.y} px above the sidebar's bottom"
        if drawn and drawn != before:  # another panel opened or closed: put it back
            log(f"open {idname}: A at {y - region.y} px toggled another panel ({sorted(drawn ^ before)}); undone")
            win.event_simulate(type="A", value="PRESS", x=x, y=y)
            win.event_simulate(type="A", value="RELEASE", x=x, y=y)
            yield 0.6
    return False, f"no header toggled the panel (panels drawn before: {sorted(before)})"


def scroll_sidebar(area_kind: str, down: bool) -> None:
    """Scroll that editor's sidebar to its end (`down`) or its top, with the wheel over it."""
    region = region_of(area_of(area_kind))
    wheel = "WHEELDOWNMOUSE" if down else "WHEELUPMOUSE"
    x, y = region.x + region.width // 2, region.y + region.height // 2
    for _ in range(30):
        window().event_simulate(type=wheel, value="PRESS", x=x, y=y)


def _group_rows(group: str) -> list[dict]:
    return [r for r in jobs().values() if group and r.get("group") == group]


def _board_finished(board, shots: int) -> bool:
    rows = _group_rows(board.group)
    return len(rows) >= 1 + 2 * shots and all(r.get("state") in FINISHED for r in rows)


def cast_steps():
    scene = bpy.context.scene
    board = scene.genbridge_storyboard
    scene_setup()  # the cube is the character's model, the scene's camera frames it
    from_shot_list = [m.name for m in board.cast]  # the first storyboard's shot list named its characters
    yield 0.3

    # 1. Open the Cast panel.
    opened, how = yield from open_sidebar_panel("VIEW_3D", CAST_PANEL)
    yield 0.3
    check("cast_panel_opens", opened, f"{how}; cast before: {from_shot_list}", shot("cast-opened"))

    # 2. Add a character: the panel's Add button (its name as the redo panel sets it), then the description typed.
    t_add = now()
    try:
        added = invoke_op("genbridge.cast_add", "VIEW_3D", "UI", member_name=CAST_NAME)
    except RuntimeError as exc:
        added = f"error: {exc}"
    index = next((i for i, m in enumerate(board.cast) if m.name == CAST_NAME), -1)
    if index >= 0:
        board.cast[index].description = CAST_DESCRIPTION
    yield 0.5

    # 3. A reference: the member's "Camera" button (the scene camera frames the cube, the character's model). Invoked
    #    like the button, it renders as Blender's render job (a modal): the sidebar keeps drawing meanwhile.
    #    Figures, not a verdict: the 60 Hz probe's gaps from the press until the reference is there.
    probe = GapProbe()
    probe.start()
    yield 0.5
    t_ref = now()
    started = time.perf_counter()
    try:
        referenced = invoke_op("genbridge.cast_add_reference", "VIEW_3D", "UI", index=max(index, 0), source="CAMERA")
    except RuntimeError as exc:
        referenced = f"error: {exc}"
    call_ms = round((time.perf_counter() - started) * 1000, 1)
    has_ref = lambda: index >= 0 and len(board.cast[index].references) > 0 and not capturing_now()  # noqa: E731
    yield from wait_until(has_ref, 30, poll=0.02)
    t_has = now()
    s_ = session()
    steps_ms = list(getattr(s_, "capture_steps_ms", []) or []) if s_ is not None else []
    yield 0.5
    during = [
        f
        for f in frames_since(t_ref, "GENBRIDGE_PT_", "VIEW_3D")
        if f["t"] < t_has and any("capturing" in i.get("text", "").lower() for i in f["items"])
    ]
    RESULT["gaps"]["cast_reference_capture"] = probe.stop() | {
        "operator_call_ms": call_ms,
        "capture_s": round(t_has - t_ref, 2),
        "capture_steps_ms": steps_ms,
        "genbridge_draws": len(frames_since(t_ref)),
        "capturing_draws": len(during),
    }
    member = board.cast[index] if index >= 0 else None
    ref = member.references[0] if member is not None and len(member.references) else None
    ref_path = Path(ref.path) if ref is not None else Path("/nonexistent")
    size = png_size(ref_path) if ref_path.is_file() else (0, 0)
    log(f"cast: add {added}, reference {referenced} after {call_ms} ms: {ref_path} {size}")
    check(
        "cast_reference_rendered_from_the_camera",
        added == {"FINISHED"}
        and referenced == {"RUNNING_MODAL"}
        and bool(during)
        and ref is not None
        and ref.source == "camera"
        and size == (512, 512)
        and '"camera": "Camera"' in ref.provenance,
        f"cast_add {added}, cast_add_reference {referenced} ({call_ms} ms, the render a modal: "
        f"{len(during)} sidebar draws said it was capturing); member {index} "
        f"{member.name if member else None!r}: reference {ref_path.name} {size}, source "
        f"{ref.source if ref else None}, provenance {ref.provenance[:120] if ref else None}",
        shot("cast-reference"),
    )
    # What the Cast panel drew since the character was added: their name, description and the reference's file.
    yield from wait_until(
        lambda: any(_cast_drawn(f, ref_path.name) for f in frames_since(t_ref, CAST_PANEL, "VIEW_3D")), 5, poll=0.1
    )
    scroll_sidebar("VIEW_3D", down=True)  # the Cast panel's content in view for the screenshot, as a user scrolls
    yield 0.8
    drawn = frames_since(t_add, CAST_PANEL, "VIEW_3D")
    full = [f for f in drawn if _cast_drawn(f, ref_path.name)]
    check(
        "cast_panel_draws_the_character_and_reference",
        bool(full),
        f"{len(drawn)} Cast panel draws since the Add; with {CAST_NAME!r}, its description and {ref_path.name} "
        f"(camera icon): {len(full)}; last drew {_cast_summary(drawn[-1]) if drawn else None}",
        shot("cast-panel"),
    )

    # 4. Storyboard from the sidebar: the Shots field, the Storyboard button (a dialog), Enter.
    board.logline, board.shot_count = CFG["logline"], CAST_SHOTS
    group_before = board.group
    probe = GapProbe()
    probe.start()
    yield 0.3
    t = now()
    try:
        pressed = invoke_op("genbridge.storyboard_from_logline", "VIEW_3D", "UI")
    except RuntimeError as exc:
        pressed = f"error: {exc}"
    yield 0.6
    dialog = shot("cast-storyboard-dialog")
    yield from wait_until(lambda: not (SHOTS / f"{dialog}.req").exists(), 10, poll=0.1)
    enters = 0
    while board.group == group_before and enters < 3:  # Enter confirms (a first one may end a text field's edit)
        window().event_simulate(type="RET", value="PRESS")
        window().event_simulate(type="RET", value="RELEASE")
        enters += 1
        yield from wait_until(lambda: board.group != group_before, 2, poll=0.1)
    started_by_dialog = board.group != group_before
    if not started_by_dialog:
        log(f"cast storyboard: the dialog did not start it after {enters} Enter presses; running it directly")
        call_op("genbridge.storyboard_from_logline", "VIEW_3D", logline=CFG["logline"], shots=CAST_SHOTS)
    yield from wait_until(lambda: len(board.shots) >= 1, 60, poll=0.1)
    scroll_sidebar("VIEW_3D", down=True)  # the last shot (with the character) in view
    yield 1.5
    running_shot = shot("cast-storyboard-running")
    finished = yield from wait_until(lambda: _board_finished(board, CAST_SHOTS), 150, poll=0.2)
    done_at = now()
    yield 1.0
    RESULT["gaps"]["cast_storyboard"] = probe.stop() | {
        "genbridge_draws": len(frames_since(t)),
        "jobs": len(_group_rows(board.group)),
    }
    picture = shot("cast-storyboard-done")

    running = [
        f
        for f in frames_since(t, "GENBRIDGE_PT_storyboard_view3d", "VIEW_3D")
        if f["t"] < done_at and any(x.startswith(f"Shot {CAST_SHOTS} ") for x in texts(f))
    ]
    cast_lines = [f for f in running if any(x == f"Cast: {CAST_NAME}" for x in texts(f))]
    check(
        "cast_storyboard_shows_the_shots_live",
        pressed == {"RUNNING_MODAL"} and started_by_dialog and bool(running) and bool(cast_lines),
        f"Storyboard button {pressed}, started by the dialog's Enter: {started_by_dialog} ({enters} presses); "
        f"{len(running)} Storyboard panel draws listed shot {CAST_SHOTS} before the last job finished, "
        f"{len(cast_lines)} of them with 'Cast: {CAST_NAME}'",
        running_shot,
    )

    # 5. The keyframes of shots with the character: character_image jobs on a Flux Kontext cast template with the
    #    character's seed and description, whose ComfyUI prompt loads an upload with the reference's bytes.
    lines, ok_all, with_char = [], finished and len(board.shots) == CAST_SHOTS, 0
    for n, sb_shot in enumerate(board.shots, 1):
        take = sb_shot.takes[0] if len(sb_shot.takes) else None
        row = jobs().get(take.keyframe_job, {}) if take is not None else {}
        inputs = row.get("inputs") or {}
        if CAST_NAME in sb_shot.characters:
            with_char += 1
            try:
                sent, how = uploaded_to_comfyui(row, ref_path) if ref_path.is_file() else (False, "no reference")
            except OSError as exc:
                sent, how = False, f"asking the stand-in failed: {exc!r}"
            good = (
                row.get("state") == "done"
                and row.get("task") == "character_image"
                and str(row.get("template", "")).startswith("flux_kontext_cast")
                and inputs.get("seed") == member.seed
                and f"{CAST_NAME} ({CAST_DESCRIPTION})" in str(inputs.get("prompt", ""))
                and sent
            )
            lines.append(
                f"shot {n} {sb_shot.characters!r}: {row.get('task')} {row.get('template')} "
                f"{row.get('state')} seed {inputs.get('seed')} (the character's {member.seed if member else None}), "
                f"description in the prompt: {CAST_DESCRIPTION in str(inputs.get('prompt', ''))}; {how}"
            )
        else:
            good = row.get("state") == "done" and row.get("task") == "keyframe"
            lines.append(f"shot {n} {sb_shot.characters!r}: {row.get('task')} {row.get('state')}")
        ok_all = ok_all and good
    check(
        "cast_keyframes_carry_the_reference",
        ok_all and with_char >= 1,
        f"finished {finished}; " + "; ".join(lines),
        picture,
    )

    # 6. Their strips in the Sequencer (a keyframe and a clip per shot), nothing failed.
    ids = {r["id"] for r in _group_rows(board.group)}
    landed = [s.name for s in strips(scene) if s.get("genbridge_job_id") in ids]
    placed = sorted(
        (s.channel, s.frame_final_start, s.frame_final_end, s.name, s.mute)
        for s in strips(scene)
        if s.get("genbridge_job_id") in ids
    )
    others = sorted(
        (s.channel, s.frame_final_start, s.frame_final_end, s.name, s.mute)
        for s in strips(scene)
        if s.get("genbridge_job_id") not in ids
    )
    failed = [
        (r.get("task"), (r.get("error") or {}).get("message")) for r in _group_rows(board.group) if r["state"] != "done"
    ]
    # The shown takes on channels 1 (keyframe) and 2 (clip), after the earlier storyboard's strips, which stay.
    earlier_end = max((end for _, _, end, _, _ in others), default=scene.frame_start)
    laid_out = (
        sorted(ch for ch, *_ in placed) == [1] * CAST_SHOTS + [2] * CAST_SHOTS
        and all(start >= earlier_end and not mute for _, start, _, _, mute in placed)
        and board.start_frame == earlier_end
    )
    check(
        "cast_storyboard_strips_land",
        finished and len(landed) == 2 * CAST_SHOTS and not failed and laid_out,
        f"finished {finished}; {len(landed)} strips of this storyboard (channel, start, end, name, muted): {placed}; "
        f"it starts at frame {board.start_frame}, the earlier strips end at {earlier_end}; failed {failed[:2]}; "
        f"cast now {[m.name for m in board.cast]}",
        picture,
    )
    # 7. "New Keyframe" on the shot with the character: the new take keeps the reference and the seed.
    index = next((n for n, x in enumerate(board.shots) if CAST_NAME in x.characters), -1)
    t = now()
    takes = len(board.shots[index].takes) if index >= 0 else 0
    try:
        again = invoke_op("genbridge.storyboard_regenerate_keyframe", "VIEW_3D", "UI", shot_index=index)
    except RuntimeError as exc:
        again = f"error: {exc}"
    regenerated = yield from wait_until(
        lambda: (
            index >= 0
            and len(board.shots[index].takes) > takes
            and all(
                jobs().get(j, {}).get("state") in FINISHED
                for j in (board.shots[index].takes[-1].keyframe_job, board.shots[index].takes[-1].clip_job)
            )
        ),
        60,
        poll=0.2,
    )
    yield 1.0
    take = board.shots[index].takes[-1] if index >= 0 and len(board.shots[index].takes) else None
    row = jobs().get(take.keyframe_job, {}) if take is not None else {}
    try:
        sent, how = uploaded_to_comfyui(row, ref_path) if row and ref_path.is_file() else (False, "no job")
    except OSError as exc:
        sent, how = False, f"asking the stand-in failed: {exc!r}"
    check(
        "cast_new_keyframe_keeps_the_reference_and_seed",
        again == {"FINISHED"}
        and regenerated
        and row.get("state") == "done"
        and row.get("task") == "character_image"
        and (row.get("inputs") or {}).get("seed") == member.seed
        and sent,
        f"New Keyframe on shot {index + 1}: {again}; take {take.number if take else None} keyframe "
        f"{row.get('task')} {row.get('state')} seed {(row.get('inputs') or {}).get('seed')}; {how}",
        shot("cast-new-keyframe"),
    )
    scroll_sidebar("VIEW_3D", down=False)  # the status box back in view for the steps after this one
    yield 0.5


def _cast_drawn(frame: dict, ref_file: str) -> bool:
    values = [i.get("value") for i in frame["items"] if i["kind"] == "prop"]
    refs = [i for i in frame["items"] if i["kind"] == "label" and i.get("text") == ref_file]
    return (
        CAST_NAME in values
        and CAST_DESCRIPTION in values
        and bool(ref_file)
        and any(i["icon"] == "CAMERA_DATA" for i in refs)
    )


def _cast_summary(frame: dict) -> list:
    return [i.get("value", i.get("text")) for i in frame["items"] if i["kind"] in ("prop", "label")][:14]


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
