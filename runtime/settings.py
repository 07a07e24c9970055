"""GenBridge settings: one pydantic model, filled from Blender preferences, a TOML file or the environment.

Keys are `SecretStr` so they never appear in reprs or logs, and are never written into .blend files (Blender
keeps them in the add-on preferences, headless they come from TOML or the environment).
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .endpoint_rows import COMFY_ORG_KEY_ENV, RowProblem, row_problem, short_key, short_key_sentence
from .errors import ConfigError
from .netpolicy import CREDENTIALS_HINT, host_of, redact_url
from .paths import default_data_dir
from .redact import register_secrets
from .services import DEFAULT_URLS, SERVICE_TITLES, SERVICES, key_env_var

log = logging.getLogger("genbridge.settings")

__all__ = [
    "COMFY_CLOUD_URL",
    "DEFAULT_URLS",
    "SERVICES",
    "SERVICE_TITLES",
    "Endpoint",
    "Settings",
    "Timeouts",
    "key_env_var",
]

Service = Literal["comfyui", "wan2gp", "litellm"]
# How GenBridge talks to a ComfyUI endpoint: its own HTTP + websocket API ("native"), or the Comfy API v2
# (`/api/v2/...`: Comfy Cloud, or `comfy-api-proxy` in front of any ComfyUI).
EndpointKind = Literal["native", "api_v2"]
# Preset for kind = "api_v2": Comfy Cloud's base URL (the client adds /api/v2/...). Remote and paid: it needs online
# access, a key, and the routing policy's `api_v2_use` decides when jobs go there.
COMFY_CLOUD_URL = "https://cloud.comfy.org"


class Endpoint(BaseModel):
    """One server of one service."""

    model_config = ConfigDict(frozen=True)

    service: Service
    url: str
    key: SecretStr | None = None
    enabled: bool = True
    label: str = ""
    kind: EndpointKind = "native"
    # ComfyUI only: the Comfy.org API key for partner (API) nodes, separate from the endpoint's bearer `key`.
    partner_key: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        try:
            host_of(value)
        except ConfigError as exc:  # pydantic aggregates ValueErrors with the field name
            hint = exc.hint
            service = info.data.get("service")
            if hint == CREDENTIALS_HINT and service:
                hint = hint.replace("GENBRIDGE_<SERVICE>_KEY", key_env_var(service))
            raise ValueError(f"{exc.message} {hint}") from None
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _remember_key(self) -> Endpoint:
        # A 1-3 character key could not be masked without garbling every message, so it is refused here, where
        # it is configured (see runtime.endpoint_rows), instead of being used unprotected.
        keys = [("The key", self.key), ("The partner_key (Comfy.org key)", self.partner_key)]
        envs = [key_env_var(self.service)] + ([COMFY_ORG_KEY_ENV] if self.kind == "api_v2" else [])
        found: list[tuple[str, str | None]] = [(what, v.get_secret_value()) for what, v in keys if v is not None]
        found += [(f"The key in the environment variable {var}", os.environ.get(var)) for var in envs]
        for what, value in found:
            size = short_key(value)
            if size:
                raise ValueError(f"{short_key_sentence(what, size)}. Use the whole key, or leave it empty")
        # From here on this key is masked in every message, log line and journal record (runtime.redact).
        if self.key is not None:
            register_secrets([self.key.get_secret_value()])
        if self.partner_key is not None:
            register_secrets([self.partner_key.get_secret_value()])
        if self.kind != "native" and self.service != "comfyui":
            raise ValueError(f"kind = {self.kind!r} is only for ComfyUI endpoints; remove it from this endpoint")
        return self

    @classmethod
    def build(
        cls,
        service: str,
        url: str,
        *,
        key: str | None = None,
        label: str = "",
        source: str = "",
        kind: str = "native",
        partner_key: str | None = None,
    ) -> Endpoint:
        """One endpoint from user input (a --url option, a preferences row); errors are ConfigErrors that name
        the problem and never quote the input (which may hold a password)."""
        data = {"service": service, "url": url, "key": key or None, "label": label, "kind": kind or "native"}
        if partner_key:
            data["partner_key"] = partner_key
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(
                f"Invalid {SERVICE_TITLES.get(service, service)} endpoint{f' in {source}' if source else ''}: "
                f"{validation_problems(exc)}.",
                f"Fix the {source} value." if source.startswith("--") else None,
            ) from None

    @property
    def name(self) -> str:
        """What the user sees: the label, or host:port."""
        if self.label:
            return self.label
        parts = urlsplit(self.url)
        return parts.netloc

    @property
    def api_key(self) -> str | None:
        env = os.environ.get(key_env_var(self.service))
        if env:
            return env
        return self.key.get_secret_value() if self.key else None

    @property
    def comfy_org_key(self) -> str | None:
        """The partner-node key: $GENBRIDGE_COMFY_ORG_KEY, else the endpoint's `partner_key`."""
        env = os.environ.get(COMFY_ORG_KEY_ENV)
        if env:
            return env
        return self.partner_key.get_secret_value() if self.partner_key else None


class Timeouts(BaseModel):
    """Seconds. `silence` is how long a running job may stay without any news before we check on it."""

    connect: float = Field(5.0, gt=0)
    request: float = Field(30.0, gt=0)
    silence: float = Field(60.0, gt=0)
    download: float = Field(600.0, gt=0)
    # After a restart, how long re-attaching waits for an unreachable server to come back before failing its jobs.
    reattach: float = Field(120.0, gt=0)
    text: float = Field(600.0, gt=0)  # one text answer in all, streamed or not (a stream that never ends stops here)


class Settings(BaseModel):
    """Everything the core needs to know; the same model in Blender and headless."""

    comfyui: list[Endpoint] = Field(default_factory=lambda: [Endpoint(service="comfyui", url=DEFAULT_URLS["comfyui"])])
    wan2gp: list[Endpoint] = Field(default_factory=lambda: [Endpoint(service="wan2gp", url=DEFAULT_URLS["wan2gp"])])
    litellm: list[Endpoint] = Field(default_factory=lambda: [Endpoint(service="litellm", url=DEFAULT_URLS["litellm"])])
    output_dir: str = ""
    data_dir: str = ""
    allow_online: bool = False
    vram_override_gb: float | None = Field(None, ge=0)
    wan2gp_profile: int = Field(4, ge=1, le=5)
    download_limit_mb: int = Field(4096, gt=0)
    # Cap for every JSON reply, stream line and streamed answer: a hostile server must not grow memory unbounded.
    reply_limit_mb: int = Field(32, gt=0)
    text_model: str = ""
    # Finished jobs the journal keeps (about what a job list shows); unfinished ones are always kept.
    keep_finished_jobs: int = Field(200, ge=0)
    policy_file: str = ""
    template_dirs: list[str] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    _endpoint_problems: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    def endpoints(self, service: str, *, enabled_only: bool = True) -> list[Endpoint]:
        eps: list[Endpoint] = getattr(self, service)
        return [e for e in eps if e.enabled or not enabled_only]

    def all_endpoints(self, *, enabled_only: bool = True) -> list[Endpoint]:
        return [e for s in SERVICES for e in self.endpoints(s, enabled_only=enabled_only)]

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir).expanduser() if self.output_dir else self.data_path / "outputs"

    @property
    def endpoint_problems(self) -> list[dict[str, Any]]:
        """Endpoint rows left out because they cannot be used (`from_mapping(..., skip_bad_endpoints=True)`):
        service, number (1-based), url (no user info), message, hint."""
        return list(self._endpoint_problems)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str = "settings", skip_bad_endpoints: bool = False
    ) -> Settings:
        """Validate plain data (TOML, a Blender preferences snapshot); errors name the field and the source.

        With `skip_bad_endpoints` (Blender's preferences, where every row shows its own status) an endpoint row
        that cannot be used is left out and listed in `endpoint_problems` instead of stopping everything: the
        other endpoints keep working and jobs route around it. Headless sources stop with the message."""
        data = dict(data)
        problems: list[dict[str, Any]] = []
        for service in SERVICES:
            if service in data:
                data[service] = _endpoint_rows(service, data[service], source)
                if skip_bad_endpoints:
                    data[service] = _usable_rows(service, data[service], problems)
        try:
            settings = cls.model_validate(data)
            settings._endpoint_problems = problems
            return settings
        except ValidationError as exc:
            raise ConfigError(f"Invalid GenBridge settings in {source}: {validation_problems(exc)}.") from None
        except RecursionError:
            raise ConfigError(f"The GenBridge settings in {source} are nested too deeply to read.") from None

    @classmethod
    def load(cls, toml_path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults, then a TOML file (explicit, $GENBRIDGE_CONFIG, or ./genbridge.toml), then the environment."""
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        path = Path(toml_path) if toml_path else None
        if path is None and env.get("GENBRIDGE_CONFIG"):
            path = Path(env["GENBRIDGE_CONFIG"])
        if path is None and Path("genbridge.toml").is_file():
            path = Path("genbridge.toml")
        if path is not None:
            data = read_toml(path)
            for warning in unknown_keys(data):
                log.warning("%s: %s", path, warning)
        overrides = _env_overrides(env)
        data.update(overrides)
        # Name the variables too: "vram_override_gb: not a number" means little to someone who set GENBRIDGE_VRAM_GB.
        used = sorted(v for v in env if v in _ENV_SETTING_VARS) if overrides else []
        source = " and ".join(
            part for part in (str(path) if path else "", f"the environment ({', '.join(used)})" if used else "") if part
        )
        return cls.from_mapping(data, source=source or "the environment")


MAX_TOML_BYTES = 8 * 1024 * 1024  # settings and policies are a few KB: a bigger file is the wrong file


def read_toml(
    path: Path, what: str = "settings file", missing_hint: str = "Create it or fix the path."
) -> dict[str, Any]:
    """A TOML file as data; every way it can be unreadable (missing, a folder, not UTF-8, not TOML, absurdly
    nested) is a ConfigError naming the file (as `what`) and the fix."""
    if path.is_dir():
        raise ConfigError(f"The {what} {path} is a folder.", "Name a .toml file instead.")
    try:
        if path.is_file() and path.stat().st_size > MAX_TOML_BYTES:
            raise ConfigError(
                f"The {what} {path} is {path.stat().st_size / 2**20:.0f} MB, far more than settings ever take.",
                "Check that the path names the right file (a small .toml file).",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"The {what} {path} does not exist.", missing_hint) from None
    except OSError as exc:
        raise ConfigError(
            f"The {what} {path} could not be read: {exc.strerror or exc}.", "Check the file's permissions."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"The {what} {path} is not UTF-8 text (an invalid byte on line {line}).",
            "Save it as UTF-8 in your text editor.",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The {what} {path} is not valid TOML: {exc}.", "Fix the line it names.") from None
    except RecursionError:
        raise ConfigError(f"The {what} {path} is nested too deeply to read.", "Remove the deep nesting.") from None


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as "field: problem; ..." without the rejected values (they may hold a password)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {_plain(err['msg'])}" if err["loc"] else _plain(err["msg"])
        for err in exc.errors(include_url=False, include_input=False)
    )


def _plain(message: str) -> str:
    # Our own validators' messages are full sentences: drop pydantic's "Value error, " and the final period.
    return message.removeprefix("Value error, ").rstrip(".")


def _endpoint_rows(service: str, value: Any, source: str) -> list[dict[str, Any]]:
    """`[[comfyui]]` tables; a plain URL or a list of URLs is taken as the same thing."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(
            f"'{service}' in {source} must be a list of endpoints, not {type(value).__name__}.",
            f'Write each server as a [[{service}]] table with url = "http://..." (or {service} = ["http://..."]).',
        )
    rows = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"Endpoint {index + 1} of '{service}' in {source} is a {type(item).__name__}, not a table or a URL.",
                f'Write each server as a [[{service}]] table with url = "http://...".',
            )
        rows.append({**item, "service": service})
    return rows


def _usable_rows(service: str, rows: list[dict[str, Any]], problems: list[dict[str, Any]]) -> list[Any]:
    """The rows of `service` that make valid endpoints; each other row becomes an entry in `problems`."""
    usable: list[Any] = []
    for number, row in enumerate(rows, 1):
        problem = row_problem(service, row, number)
        if problem is None:
            try:
                usable.append(Endpoint.model_validate(row))
                continue
            except ValidationError as exc:
                where = f"{SERVICE_TITLES.get(service, service)} endpoint {number}"
                problem = RowProblem(f"{where}: {validation_problems(exc)}.", "Fix it in GenBridge's preferences.")
        url = redact_url(str(row.get("url") or ""))
        problems.append({"service": service, "number": number, "url": url, **problem.to_dict()})
        log.warning("%s %s", problem.message, problem.hint)
    return usable


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel] | None = None, where: str = "") -> list[str]:
    """A warning for every key the settings do not know (a typo is otherwise silently ignored), at any depth,
    naming the nearest valid key."""
    model = model or Settings
    known = [name for name in model.model_fields if name != "service"]
    warnings = []
    for key, value in data.items():
        place = f"{where}{key}"
        if key not in model.model_fields or key == "service":
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            suggestion = f"; did you mean '{close[0]}'?" if close else f"; valid keys here: {', '.join(known)}."
            warnings.append(f"unknown setting '{place}' is ignored{suggestion}")
            continue
        sub = _nested_model(model.model_fields[key].annotation)
        if sub is None:
            continue
        if isinstance(value, Mapping):
            warnings += unknown_keys(value, sub, f"{place}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    warnings += unknown_keys(item, sub, f"{place}[{index}].")
    return warnings


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds (directly or as list items), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


_ENV_FIELDS = {
    "GENBRIDGE_OUTPUT_DIR": "output_dir",
    "GENBRIDGE_DATA_DIR": "data_dir",
    "GENBRIDGE_VRAM_GB": "vram_override_gb",
    "GENBRIDGE_WAN2GP_PROFILE": "wan2gp_profile",
    "GENBRIDGE_TEXT_MODEL": "text_model",
    "GENBRIDGE_POLICY": "policy_file",
}
_ENV_SETTING_VARS = frozenset(
    {*_ENV_FIELDS, "GENBRIDGE_ALLOW_ONLINE"}
    | {f"GENBRIDGE_{s.upper()}_{suffix}" for s in SERVICES for suffix in ("URLS", "URL")}
)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for service in SERVICES:
        # Set but empty (`GENBRIDGE_WAN2GP_URLS=`) means "no endpoints": the service is off, not defaulted.
        urls = env.get(f"GENBRIDGE_{service.upper()}_URLS")
        if urls is None:
            urls = env.get(f"GENBRIDGE_{service.upper()}_URL")
        if urls is not None:
            out[service] = [{"url": u.strip()} for u in urls.split(",") if u.strip()]
    for var, field in _ENV_FIELDS.items():
        if env.get(var):
            out[field] = env[var]
    if env.get("GENBRIDGE_ALLOW_ONLINE"):
        out["allow_online"] = env["GENBRIDGE_ALLOW_ONLINE"].strip().lower() in ("1", "true", "yes", "on")
    return out
