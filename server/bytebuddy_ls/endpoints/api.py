"""The Inference Endpoints management API over httpx.

The routes are the ones huggingface_hub's ``get/list/pause/resume/scale_to_zero_
inference_endpoint`` call (base ``https://api.endpoints.huggingface.cloud/v2``,
``$BYTEBUDDY_ENDPOINTS_API_URL`` for tests): ``GET /endpoint/{namespace}`` (list),
``GET /endpoint/{namespace}/{name}``, ``POST /endpoint/{namespace}/{name}/pause|resume|
scale-to-zero``; the namespace, when nobody names one, is the token's user
(``GET {hub}/api/whoami-v2``). Written on httpx rather than importing huggingface_hub:
the server already has an httpx pool, huggingface_hub is synchronous (requests), costs
a few hundred milliseconds to import and would become a runtime dependency; the tests
use huggingface_hub as the oracle for these routes and shapes.

The token goes only to the management API and the Hub, never elsewhere, and no error
message carries it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote

import httpx

from .. import __version__
from ..inference.errors import error_message, json_or_none
from ..log import logger, redact

API_URL_ENV = "BYTEBUDDY_ENDPOINTS_API_URL"
DEFAULT_API_URL = "https://api.endpoints.huggingface.cloud/v2"
HUB_URL_ENV = "HF_ENDPOINT"
DEFAULT_HUB_URL = "https://huggingface.co"

EndpointState = Literal[
    "pending",
    "initializing",
    "updating",
    "updateFailed",
    "running",
    "paused",
    "failed",
    "scaledToZero",
]
STATES: tuple[EndpointState, ...] = get_args(EndpointState)
# Starting or changing: the endpoint will be running without anyone acting.
STARTING_STATES = frozenset({"pending", "initializing", "updating"})
FAILED_STATES = frozenset({"failed", "updateFailed"})

ErrorKind = Literal["auth", "not_found", "unreachable", "bad_answer", "refused", "timeout"]


class EndpointsAPIError(Exception):
    """A management API call failed; ``message`` is one actionable line."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None) -> None:
        self.kind = kind
        self.status = status
        self.message = redact(message)
        super().__init__(self.message)


@dataclass(frozen=True)
class EndpointInfo:
    """What the management API says about one endpoint."""

    name: str
    namespace: str
    state: str  # one of STATES; an unknown new state is kept as sent
    url: str | None
    repository: str | None = None
    framework: str | None = None
    task: str | None = None
    vendor: str | None = None
    region: str | None = None
    accelerator: str | None = None
    instance_type: str | None = None
    instance_size: str | None = None
    min_replica: int | None = None
    max_replica: int | None = None
    scale_to_zero_timeout_min: int | None = None
    message: str | None = None  # the API's own words about the state, when it gives some

    @classmethod
    def from_json(cls, data: Any, namespace: str) -> EndpointInfo:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError("not an endpoint object (no 'name')")
        status = _dict(data.get("status"))
        state = status.get("state")
        if not isinstance(state, str):
            raise ValueError("no status.state")
        model = _dict(data.get("model"))
        provider = _dict(data.get("provider"))
        compute = _dict(data.get("compute"))
        scaling = _dict(compute.get("scaling"))
        url = status.get("url")
        # Field by field, so mypy checks each against its declared type.
        return cls(
            name=data["name"],
            namespace=namespace,
            state=state,
            url=url.rstrip("/") if isinstance(url, str) and url else None,
            repository=_str(model.get("repository")),
            framework=_str(model.get("framework")),
            task=_str(model.get("task")),
            vendor=_str(provider.get("vendor")),
            region=_str(provider.get("region")),
            accelerator=_str(compute.get("accelerator")),
            instance_type=_str(compute.get("instanceType")),
            instance_size=_str(compute.get("instanceSize")),
            min_replica=_int(scaling.get("minReplica")),
            max_replica=_int(scaling.get("maxReplica")),
            scale_to_zero_timeout_min=_int(scaling.get("scaleToZeroTimeout")),
            message=_str(status.get("message")),
        )

    @property
    def running(self) -> bool:
        return self.state == "running" and self.url is not None

    def to_json(self) -> dict[str, Any]:
        """The fields editors and ``endpoint status --json`` show (camelCase), spelt out:
        they are a wire format."""
        out: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "state": self.state,
            "url": self.url,
            "repository": self.repository,
            "instance": self.instance,
            "minReplica": self.min_replica,
            "maxReplica": self.max_replica,
            "scaleToZeroTimeout": self.scale_to_zero_timeout_min,
            "message": self.message,
        }
        return {k: v for k, v in out.items() if v is not None}

    @property
    def instance(self) -> str | None:
        parts = [p for p in (self.vendor, self.region, self.instance_type, self.instance_size) if p]
        return " ".join(parts) or None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def api_url() -> str:
    return (os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


def hub_url() -> str:
    return (os.environ.get(HUB_URL_ENV) or DEFAULT_HUB_URL).rstrip("/")


class EndpointsAPI:
    """One token's view of the management API. ``http`` may be shared with the caller
    (the server's pool); otherwise this object owns one and ``aclose`` closes it."""

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None = None,
        hub: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 15.0,
        verify: bool = True,
    ) -> None:
        self._token = token
        self.base_url = (base_url or api_url()).rstrip("/")
        self.hub_url = (hub or hub_url()).rstrip("/")
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            verify=verify, follow_redirects=False, trust_env=False
        )
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._whoami: str | None = None

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # ----- routes --------------------------------------------------------------------

    async def get(self, namespace: str, name: str) -> EndpointInfo:
        data = await self._request("GET", self._path(namespace, name), what=f"endpoint '{name}'")
        return self._info(data, namespace)

    async def list(self, namespace: str) -> list[EndpointInfo]:
        data = await self._request(
            "GET", f"/endpoint/{quote(namespace, safe='')}", what=f"namespace '{namespace}'"
        )
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise EndpointsAPIError("bad_answer", "the endpoint list has no 'items'")
        return [self._info(item, namespace) for item in items]

    async def pause(self, namespace: str, name: str) -> EndpointInfo:
        return await self._action(namespace, name, "pause")

    async def resume(self, namespace: str, name: str) -> EndpointInfo:
        """Resume; an endpoint that is already running is not an error (like
        huggingface_hub's ``running_ok=True``)."""
        try:
            return await self._action(namespace, name, "resume")
        except EndpointsAPIError as exc:
            if exc.kind == "refused" and "running" in exc.message.lower():
                return await self.get(namespace, name)
            raise

    async def scale_to_zero(self, namespace: str, name: str) -> EndpointInfo:
        return await self._action(namespace, name, "scale-to-zero")

    async def whoami(self) -> str:
        """The token's user name: the namespace when the config names none."""
        if self._whoami is not None:
            return self._whoami
        data = await self._request(
            "GET", "/api/whoami-v2", what="the token's account", base=self.hub_url
        )
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            raise EndpointsAPIError("bad_answer", "whoami-v2 answered without a 'name'")
        self._whoami = name
        return name

    async def wait(
        self,
        namespace: str,
        name: str,
        *,
        timeout_s: float,
        on_state: Callable[[EndpointInfo], None] | None = None,
        interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> EndpointInfo:
        """Poll until the endpoint runs (and has a URL). Raises ``EndpointsAPIError``
        with kind ``timeout`` after ``timeout_s``, ``refused`` when it fails or is
        paused (it will not start by itself)."""
        deadline = clock() + timeout_s
        last: str | None = None
        while True:
            info = await self.get(namespace, name)
            if info.state != last and on_state is not None:
                on_state(info)
            last = info.state
            if info.running:
                return info
            if info.state in FAILED_STATES:
                raise EndpointsAPIError(
                    "refused", f"endpoint '{name}' is {info.state}" + _because(info)
                )
            if info.state == "paused":
                raise EndpointsAPIError(
                    "refused", f"endpoint '{name}' is paused: resume it first"
                )
            left = deadline - clock()
            if left <= 0:
                raise EndpointsAPIError(
                    "timeout",
                    f"endpoint '{name}' is still {info.state} after {timeout_s:g} s",
                )
            await asyncio.sleep(min(interval_s, left))

    # ----- plumbing ------------------------------------------------------------------

    def _path(self, namespace: str, name: str) -> str:
        return f"/endpoint/{quote(namespace, safe='')}/{quote(name, safe='')}"

    async def _action(self, namespace: str, name: str, verb: str) -> EndpointInfo:
        data = await self._request(
            "POST", f"{self._path(namespace, name)}/{verb}", what=f"endpoint '{name}'"
        )
        return self._info(data, namespace)

    def _info(self, data: Any, namespace: str) -> EndpointInfo:
        try:
            return EndpointInfo.from_json(data, namespace)
        except ValueError as exc:
            raise EndpointsAPIError("bad_answer", f"unexpected endpoint answer: {exc}") from None

    async def _request(self, method: str, path: str, *, what: str, base: str | None = None) -> Any:
        url = (base or self.base_url) + path
        headers = {"User-Agent": f"bytebuddy-ls/{__version__}", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        logger.debug("endpoints API: %s %s", method, url)
        try:
            response = await self._http.request(method, url, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            raise EndpointsAPIError(
                "unreachable", f"no answer from {_origin(url)} (Inference Endpoints API)"
            ) from None
        except httpx.HTTPError as exc:
            why = redact(str(exc)) or type(exc).__name__
            raise EndpointsAPIError("unreachable", f"cannot reach {_origin(url)}: {why}") from None
        if response.status_code < 400:
            data = json_or_none(response.content)
            if data is None:
                raise EndpointsAPIError("bad_answer", f"{_origin(url)} answered without JSON")
            return data
        raise _api_error(response, what, has_token=bool(self._token))


def _api_error(response: httpx.Response, what: str, *, has_token: bool) -> EndpointsAPIError:
    status = response.status_code
    detail = error_message(response.content, response.headers) or f"HTTP {status}"
    if status in (401, 403):
        hint = (
            "the token lacks access to it (it needs permission to manage Inference Endpoints)"
            if has_token
            else "no Hugging Face token: set HF_TOKEN or run `huggingface-cli login`"
        )
        return EndpointsAPIError("auth", f"{what}: {detail} ({hint})", status=status)
    if status == 404:
        return EndpointsAPIError(
            "not_found", f"{what} not found: check endpoint name and namespace", status=status
        )
    if status >= 500:
        return EndpointsAPIError(
            "unreachable", f"Inference Endpoints API error for {what}: {detail}", status=status
        )
    return EndpointsAPIError("refused", f"{what}: {detail}", status=status)


def _because(info: EndpointInfo) -> str:
    return f" ({info.message})" if info.message else ": see its logs on huggingface.co"


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"
