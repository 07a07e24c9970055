"""The LiteLLM client's health probe: liveliness, readiness, the model list, and (for `check`) one model call.

Never `GET /health` without a model (it calls every deployment). While a chat call runs on the endpoint the last
result is repeated instead of asking: llama-cpp-python's server ends a running answer whenever another request
arrives. Loop thread only.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ...runtime.backend import ProbeResult
from ...runtime.errors import GenBridgeError, ServerError
from ...runtime.jobs import JobErrorInfo
from .errors import SERVICE, cap, error_from_response

if TYPE_CHECKING:
    from .client import LiteLLMClient


async def probe(self: LiteLLMClient, check_model: str | None = None) -> ProbeResult:
    """Liveliness and readiness (never /health, which calls every model), then the model list.

    While an answer streams on this endpoint the last result is returned instead: llama.cpp's server ends a
    running answer whenever another request arrives. `check_model` (the `check` command) also asks the proxy
    to call that one model (`/health?model=`; "" = the first listed), so a dead model server behind the proxy
    is found.
    """
    if self._calls:
        if self._last_probe is not None:
            return self._last_probe.model_copy(update={"checked_at": time.time()})
        return ProbeResult(
            service=self.service,
            url=self.endpoint.url,
            label=self.endpoint.label,
            reachable=True,
            capabilities={"chat": True, "busy": True},
            checked_at=time.time(),
        )
    started = time.perf_counter()
    base: dict[str, Any] = {
        "service": self.service,
        "url": self.endpoint.url,
        "label": self.endpoint.label,
    }
    latency = None
    models: list[str] = []
    try:
        status, _, _ = await self.get_json(f"{self.root}/health/liveliness", auth=False, what="health reply")
        self.is_litellm = status == 200 or bool(self.version)
        if status == 200:
            ready, _, body = await self.get_json(f"{self.root}/health/readiness", auth=False, what="health reply")
            if ready != 200:
                raise self.tag(
                    ServerError(
                        f"{cap(self.server)} is starting or shutting down (readiness {ready}).",
                        "Wait a few seconds and check again.",
                        service=SERVICE,
                        detail=str(body)[:500],
                    )
                )
        latency = (time.perf_counter() - started) * 1000
        models = await self.list_models(refresh=True)
        if check_model is not None and self.is_litellm:
            await _check_model(self, check_model)
    except GenBridgeError as exc:
        reachable = exc.code not in ("unreachable", "timeout", "online_access")
        result = ProbeResult(
            **base,
            reachable=reachable,
            version=self.version,
            latency_ms=latency,
            models={"text": models},
            error=JobErrorInfo(**exc.to_dict()),
            checked_at=time.time(),
        )
    else:
        result = ProbeResult(
            **base,
            reachable=True,
            version=self.version,
            latency_ms=latency,
            models={"text": models},
            capabilities={"chat": True, "streaming": True, "litellm": bool(self.is_litellm)},
            checked_at=time.time(),
        )
    self._last_probe = result
    return result


async def _check_model(self: LiteLLMClient, model: str) -> None:
    """`GET /health?model=` makes the proxy call that one model: the only way to see a dead model server.
    An empty `model` checks the first listed one."""
    model = model or (self._models or [""])[0]
    if not model:
        return
    if model not in (self._models or []):
        raise await self.unknown_model_error(model)
    status, headers, data = await self.get_json(f"{self.root}/health?model={model}", what="health reply")
    if status == 503:  # the proxy's "unhealthy" answer carries the same JSON body
        try:
            data = json.loads(data)
        except ValueError:
            pass
    if status not in (200, 503) or not isinstance(data, dict):
        raise self.tag(error_from_response(status, headers, data, server=self.server, model=model))
    bad = data.get("unhealthy_endpoints")
    if bad or status == 503:
        first = bad[0] if bad and isinstance(bad[0], dict) else {}
        raise self.tag(
            ServerError(
                f"The model '{model}' behind {self.server} is not answering: its model server is down, "
                "unreachable from the proxy, or failing.",
                "Start the model's server (or fix its api_base in the proxy config), or pick another model.",
                service=SERVICE,
                detail=str(first.get("error", ""))[:2000],
            )
        )
