"""A loopback emulation of Hugging Face Inference Endpoints, on the ``hf_server``.

It adds to an ``HFTestServer`` (same port):
- the management API under ``/v2`` (``$BYTEBUDDY_ENDPOINTS_API_URL`` = ``{url}/v2``):
  ``GET /v2/endpoint/{ns}`` → ``{"items": [...]}``, ``GET /v2/endpoint/{ns}/{name}``,
  ``POST /v2/endpoint/{ns}/{name}/pause|resume|scale-to-zero``, in the JSON shape the real
  API answers (huggingface_hub's ``InferenceEndpoint`` parses it); ``GET /api/whoami-v2``
  on the Hub side (``$HF_ENDPOINT`` = ``{url}``);
- each endpoint's inference URL ``{url}/endpoints/{name}``: below it, the hf_server's own
  routes (TGI, OpenAI, ``/health``...), gated by the endpoint's state.

The state machine, like the real service:
- ``paused`` answers inference with 400 "Invalid state" and never wakes by itself;
  ``resume`` → ``initializing`` for ``init_s`` → ``running``;
- ``scaledToZero``: the first inference request starts a replica (→ ``initializing`` for
  ``cold_start_s``) and gets a 503 with an empty body, like every request until it runs —
  unless it carries ``X-Scale-Up-Timeout``, which makes the proxy hold it until the
  replica is up (or the timeout passes);
- ``pause`` / ``scale-to-zero`` move a running endpoint there at once;
- with ``idle_scale_s``, a running endpoint unused that long scales to zero.

Control over HTTP (editor tests in other processes): ``POST /_test/endpoint``
``{"name", "namespace"?, "state"?, "init_s"?, "cold_start_s"?, "idle_scale_s"?}`` adds or
changes an endpoint; ``GET /_test/endpoints`` lists ``{name: state}``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.hf_server import HFTestServer

DEFAULT_NAMESPACE = "bytebuddy-test"
DEFAULT_TOKEN_USER = DEFAULT_NAMESPACE
_MANAGEMENT = re.compile(r"^/v2/endpoint/(?P<ns>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<verb>[^/]+))?)?$")
_INFERENCE = re.compile(r"^/endpoints/(?P<name>[^/]+)(?P<rest>/.*)?$")


@dataclass
class Endpoint:
    name: str
    namespace: str = DEFAULT_NAMESPACE
    state: str = "running"
    repository: str = "bigcode/starcoder2-3b"
    init_s: float = 0.3  # initializing after resume
    cold_start_s: float = 0.3  # initializing after a request woke it from zero
    idle_scale_s: float | None = None
    scale_to_zero_timeout_min: int = 15
    ready_at: float | None = None
    woken: bool = False  # initializing because a request woke it (its URL stays up)
    last_used: float = field(default_factory=time.monotonic)
    created: str = "2026-01-01T00:00:00.000Z"
    updated: str = "2026-01-01T00:00:00.000Z"

    def tick(self) -> None:
        now = time.monotonic()
        if self.state == "initializing" and self.ready_at is not None and now >= self.ready_at:
            self.set("running")
        if (
            self.state == "running"
            and self.idle_scale_s is not None
            and now - self.last_used >= self.idle_scale_s
        ):
            self.set("scaledToZero")

    def set(self, state: str, *, starting_for: float | None = None, woken: bool = False) -> None:
        self.state = state
        self.ready_at = time.monotonic() + starting_for if starting_for is not None else None
        self.woken = woken
        self.last_used = time.monotonic()
        self.updated = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class EndpointsEmulator:
    def __init__(self, server: HFTestServer, *, token: str | None = None) -> None:
        """``token``: when set, management calls without ``Bearer <token>`` get a 401."""
        self.server = server
        self.token = token
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        self.management_calls: list[tuple[str, str]] = []  # (method, path)
        server.add_interceptor(self._intercept)

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/v2"

    def endpoint_url(self, name: str) -> str:
        return f"{self.server.url}/endpoints/{name}"

    def add(self, name: str, **fields: Any) -> Endpoint:
        endpoint = Endpoint(name, **fields)
        self.endpoints[(endpoint.namespace, name)] = endpoint
        return endpoint

    def get(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Endpoint:
        endpoint = self.endpoints[(namespace, name)]
        endpoint.tick()
        return endpoint

    def verbs(self) -> list[str]:
        """The management calls made so far, as ``"GET name"``, ``"POST name/resume"``."""
        out = []
        for method, path in self.management_calls:
            match = _MANAGEMENT.match(path)
            if match:
                tail = "/".join(p for p in (match["name"], match["verb"]) if p) or match["ns"]
                out.append(f"{method} {tail}")
        return out

    # ----- JSON ----------------------------------------------------------------------

    def to_json(self, e: Endpoint) -> dict[str, Any]:
        url_up = e.state in ("running", "scaledToZero") or (e.state == "initializing" and e.woken)
        status: dict[str, Any] = {
            "state": e.state,
            "createdAt": e.created,
            "updatedAt": e.updated,
            "createdBy": {"id": "0", "name": DEFAULT_TOKEN_USER},
            "updatedBy": {"id": "0", "name": DEFAULT_TOKEN_USER},
            "message": _STATE_MESSAGES.get(e.state, ""),
            "readyReplica": 1 if e.state == "running" else 0,
            "targetReplica": 0 if e.state in ("paused", "scaledToZero") else 1,
        }
        if url_up:
            status["url"] = self.endpoint_url(e.name)
        return {
            "accountId": None,
            "name": e.name,
            "type": "protected",
            "healthRoute": "/health",
            "compute": {
                "accelerator": "gpu",
                "instanceType": "nvidia-l4",
                "instanceSize": "x1",
                "scaling": {
                    "minReplica": 0,
                    "maxReplica": 1,
                    "scaleToZeroTimeout": e.scale_to_zero_timeout_min,
                },
            },
            "model": {
                "repository": e.repository,
                "revision": "main",
                "task": "text-generation",
                "framework": "pytorch",
                "image": {"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.4"}},
                "secrets": {},
                "env": {},
            },
            "provider": {"vendor": "aws", "region": "us-east-1"},
            "status": status,
        }

    # ----- HTTP ----------------------------------------------------------------------

    async def _intercept(
        self, request: web.Request, _raw: bytes
    ) -> web.StreamResponse | str | None:
        path = request.path
        if path.startswith("/_test/"):
            return await self._control(request)
        if path == "/api/whoami-v2":
            if not self._authorized(request):
                return _unauthorized()
            return web.json_response({"type": "user", "name": DEFAULT_TOKEN_USER})
        match = _MANAGEMENT.match(path)
        if match:
            self.management_calls.append((request.method, path))
            return self._manage(request, match["ns"], match["name"], match["verb"])
        match = _INFERENCE.match(path)
        if match:
            return await self._gate(request, match["name"], match["rest"] or "/")
        return None

    def _authorized(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    def _manage(
        self, request: web.Request, namespace: str, name: str | None, verb: str | None
    ) -> web.Response:
        if not self._authorized(request):
            return _unauthorized()
        if name is None:
            if request.method != "GET":
                return web.json_response({"error": "Method not allowed"}, status=405)
            items = []
            for (ns, _), endpoint in sorted(self.endpoints.items()):
                if ns == namespace:
                    endpoint.tick()
                    items.append(self.to_json(endpoint))
            return web.json_response({"items": items})
        endpoint = self.endpoints.get((namespace, name))
        if endpoint is None:
            return web.json_response(
                {"error": f"Endpoint {name} not found in namespace {namespace}"}, status=404
            )
        endpoint.tick()
        if verb is None and request.method == "GET":
            return web.json_response(self.to_json(endpoint))
        if request.method != "POST" or verb not in ("pause", "resume", "scale-to-zero"):
            return web.json_response({"error": "Not found"}, status=404)
        if verb == "pause":
            endpoint.set("paused")
        elif verb == "scale-to-zero":
            if endpoint.state == "paused":
                return web.json_response(
                    {"error": "Cannot scale to zero a paused endpoint"}, status=400
                )
            endpoint.set("scaledToZero")
        else:
            if endpoint.state == "running":
                return web.json_response({"error": "Endpoint is already running"}, status=400)
            if endpoint.state in ("paused", "failed", "scaledToZero"):
                endpoint.set("initializing", starting_for=endpoint.init_s)
        return web.json_response(self.to_json(endpoint))

    async def _gate(self, request: web.Request, name: str, rest: str) -> web.StreamResponse | str:
        endpoint = next((e for (_, n), e in self.endpoints.items() if n == name), None)
        if endpoint is None:
            return web.Response(status=404, text="Not Found")
        endpoint.tick()
        if endpoint.state == "paused":
            return web.json_response(
                {"error": "Invalid state: the endpoint is paused"}, status=400
            )
        if endpoint.state in ("failed", "updateFailed"):
            return web.Response(status=500, text="")
        if endpoint.state == "scaledToZero":
            endpoint.set("initializing", starting_for=endpoint.cold_start_s, woken=True)
        if endpoint.state in ("initializing", "pending", "updating"):
            hold = _float(request.headers.get("X-Scale-Up-Timeout"))
            if hold is None or not endpoint.woken:
                return web.Response(status=503, text="")
            deadline = time.monotonic() + hold
            while endpoint.state != "running" and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                endpoint.tick()
            if endpoint.state != "running":
                return web.Response(status=503, text="")
        endpoint.last_used = time.monotonic()
        return rest

    async def _control(self, request: web.Request) -> web.Response | None:
        if request.path == "/_test/endpoint" and request.method == "POST":
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                return web.json_response({"error": "expected {name, ...}"}, status=400)
            namespace = data.get("namespace", DEFAULT_NAMESPACE)
            existing = self.endpoints.get((namespace, data["name"]))
            if existing is None:
                known = {k: data[k] for k in ("namespace", "state", "init_s", "cold_start_s",
                                               "idle_scale_s", "repository") if k in data}
                self.add(data["name"], **known)
            else:
                for key in ("init_s", "cold_start_s", "idle_scale_s", "repository"):
                    if key in data:
                        setattr(existing, key, data[key])
                if "state" in data:
                    existing.set(data["state"])
            return web.json_response({"ok": True})
        if request.path == "/_test/endpoints" and request.method == "GET":
            states = {}
            for (_, name), endpoint in self.endpoints.items():
                endpoint.tick()
                states[name] = endpoint.state
            return web.json_response(states)
        return None


_STATE_MESSAGES = {
    "running": "Endpoint is ready",
    "initializing": "Endpoint is initializing",
    "paused": "Endpoint is paused",
    "scaledToZero": "Endpoint is scaled to zero",
    "failed": "Endpoint failed to start: out of memory",
}


def _unauthorized() -> web.Response:
    return web.json_response(
        {"error": "Invalid credentials in Authorization header"}, status=401
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def attach(server: HFTestServer, **kwargs: Any) -> EndpointsEmulator:
    return EndpointsEmulator(server, **kwargs)


# ----- pytest fixture -----------------------------------------------------------------

try:
    import pytest_asyncio
except ImportError:
    pytest_asyncio = None

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def endpoints_api(hf_server: HFTestServer) -> AsyncIterator[EndpointsEmulator]:
        yield EndpointsEmulator(hf_server)


__all__ = ["DEFAULT_NAMESPACE", "Endpoint", "EndpointsEmulator", "attach"]
