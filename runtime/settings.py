"""GenBridge settings: one pydantic model, filled from Blender preferences, a TOML file or the environment.

Keys are `SecretStr` so they never appear in reprs or logs, and are never written into .blend files (Blender
keeps them in the add-on preferences, headless they come from TOML or the environment).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .errors import ConfigError
from .netpolicy import host_of
from .paths import default_data_dir
from .services import DEFAULT_URLS, SERVICE_TITLES, SERVICES, key_env_var

__all__ = ["DEFAULT_URLS", "SERVICES", "SERVICE_TITLES", "Endpoint", "Settings", "Timeouts", "key_env_var"]

Service = Literal["comfyui", "wan2gp", "litellm"]


class Endpoint(BaseModel):
    """One server of one service."""

    model_config = ConfigDict(frozen=True)

    service: Service
    url: str
    key: SecretStr | None = None
    enabled: bool = True
    label: str = ""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            host_of(value)
        except ConfigError as exc:  # pydantic aggregates ValueErrors with the field name
            raise ValueError(f"{exc.message} {exc.hint}") from None
        return value.strip().rstrip("/")

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


class Timeouts(BaseModel):
    """Seconds. `silence` is how long a running job may stay without any news before we check on it."""

    connect: float = Field(5.0, gt=0)
    request: float = Field(30.0, gt=0)
    silence: float = Field(60.0, gt=0)
    download: float = Field(600.0, gt=0)


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
    policy_file: str = ""
    template_dirs: list[str] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)

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

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "settings") -> Settings:
        """Validate plain data (TOML, a Blender preferences snapshot); errors name the field and the source."""
        data = dict(data)
        for service in SERVICES:
            if service in data:
                data[service] = [{"service": service, **ep} for ep in data[service]]
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
            )
            raise ConfigError(f"Invalid GenBridge settings in {source}: {problems}.") from None

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
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"The settings file {path} does not exist.", "Create it or fix the path.") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}.", "Fix the line it names.") from None
        data.update(_env_overrides(env))
        return cls.from_mapping(data, source=str(path) if path else "the environment")


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for service in SERVICES:
        urls = env.get(f"GENBRIDGE_{service.upper()}_URLS") or env.get(f"GENBRIDGE_{service.upper()}_URL")
        if urls is not None:
            out[service] = [{"url": u.strip()} for u in urls.split(",") if u.strip()]
    simple = {
        "GENBRIDGE_OUTPUT_DIR": "output_dir",
        "GENBRIDGE_DATA_DIR": "data_dir",
        "GENBRIDGE_VRAM_GB": "vram_override_gb",
        "GENBRIDGE_WAN2GP_PROFILE": "wan2gp_profile",
        "GENBRIDGE_TEXT_MODEL": "text_model",
        "GENBRIDGE_POLICY": "policy_file",
    }
    for var, field in simple.items():
        if env.get(var):
            out[field] = env[var]
    if env.get("GENBRIDGE_ALLOW_ONLINE"):
        out["allow_online"] = env["GENBRIDGE_ALLOW_ONLINE"].strip().lower() in ("1", "true", "yes", "on")
    return out
