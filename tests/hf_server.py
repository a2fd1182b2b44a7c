"""A loopback server that speaks the Hugging Face inference wire protocols.

It is a real aiohttp server on 127.0.0.1 (not a mock): the routes, stream formats and
error shapes of the Inference Providers router, hf-inference, TGI and OpenAI-compatible
servers, TGI's input validation, a script of replies/faults per test, and a record of
what it received.

Routes: ``POST /`` (toolkit / TGI compat, array answer or SSE), ``POST /generate``,
``POST /generate_stream``, ``GET /info``, ``GET /health``, ``POST /v1/chat/completions``,
``POST /v1/completions``, ``GET /v1/models``, ``POST /hf-inference/models/{id}``
(+ ``/v1/completions`` and ``/v1/chat/completions`` under it), and each router
provider's own routes: ``POST /{provider}/v1/(chat/)completions``,
``/novita/v3/openai/(chat/)completions``, ``/deepinfra/v1/openai/(chat/)completions``.

The Hub API too: ``GET /api/models/{id}`` (with or without
``expand[]=inferenceProviderMapping``) answers the model's provider mapping, set per
model with ``.mappings[id] = {provider: {status, providerId, task}}`` (or
``/_test/config`` ``{"mappings": {...}}``); a model without one is served by
hf-inference as text-generation under its own id. The router's ``GET /v1/models/{id}``
answers ``.router_models[id]`` (its ``providers`` list: pricing, throughput, latency).

Embeddings: ``POST /hf-inference/models/{id}/pipeline/feature-extraction``, TEI
``POST /embed`` and OpenAI-style ``POST [/{provider}]/v1/embeddings`` (deepinfra:
``/v1/openai/embeddings``). Vectors are ``embedding_for(text)``: a hashed bag of words,
so similar texts are near.

Use it three ways:
- pytest: the async fixture ``hf_server`` (``.url``, ``.script(...)``, ``.configure(...)``,
  ``.requests``, ``.disconnects``, ``.wait_for_disconnect()``, ``.reset()``);
- standalone, for editor end-to-end tests and benchmarks in other processes:
  ``python tests/hf_server.py --port 0 --port-file PATH`` (writes the port once
  listening; runs until SIGTERM/SIGINT);
- over HTTP: ``POST /_test/script`` (a rule, below), ``POST /_test/config``
  (``{"engine": "all"|"tgi"|"openai"|"toolkit", "info": {...}, "validate": bool,
  "mappings": {...}}``),
  ``GET /_test/requests``, ``GET /_test/disconnects``, ``POST /_test/reset``.

Inference Endpoints (management API under ``/v2``, endpoints under ``/endpoints/{name}``)
are emulated on the same server by ``tests/endpoints_server.py``: the fixture
``endpoints_api``, or always when run standalone (``POST /_test/endpoint``).

A rule (JSON or ``script(**rule)``): ``reply`` (text), ``status``, ``body`` (replaces the
protocol answer; a string is sent as text, anything else as JSON), ``headers``,
``delay_s`` (before answering), ``token_delay_s`` (between stream chunks),
``error_event`` (an error inside a 200 stream after ``error_after_tokens`` chunks, with
``error_type``), ``disconnect_after_tokens`` (the server drops the connection),
``sse_no_space`` (``data:`` without a space), ``omit_done`` (no ``[DONE]``),
``keepalive`` (``:`` comment lines between chunks), ``finish_reason`` (how the answer
says it ended; by default "length" when the reply has at least the requested maximum of
tokens, else the end-of-sequence reason), ``times`` and ``match_path``.
With ``times`` the rule is queued ahead of the default and used that many times; without
``times`` but with ``match_path`` it stays for that path; otherwise it replaces the
default. ``match_path`` is an exact path, or a prefix when it ends in ``*``. Rules
without ``match_path`` apply to generation routes only (not ``/info``, ``/v1/models``).

Like a real model, a reply stops at its first end-of-sequence token (``<|endoftext|>``,
``</s>``, ...): TGI streams it as a special token and leaves it out of the text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aiohttp import web

DEFAULT_REPLY = "return a + b"
DEFAULT_INFO: dict[str, Any] = {
    "model_id": "bigcode/starcoder2-3b",
    "model_sha": "0" * 40,
    "model_pipeline_tag": "text-generation",
    "max_concurrent_requests": 128,
    "max_best_of": 2,
    "max_stop_sequences": 4,
    "max_input_tokens": 1024,
    "max_total_tokens": 2048,
    "validation_workers": 2,
    "max_client_batch_size": 4,
    "router": "text-generation-router",
    "version": "3.3.4",
}
_UNSET: Any = object()
# (request, body bytes) -> a response that ends the request, a path to route it as, or None.
Interceptor = Callable[[web.Request, bytes], Awaitable["web.StreamResponse | str | None"]]
_GENERATION_ROUTES = ("textgen-array", "generate", "generate-stream", "chat", "completions")
_EMBEDDING_ROUTES = ("feature-extraction", "tei-embed", "openai-embeddings")
_TOKEN_SPLIT = re.compile(r"\s*\S+|\s+")
# End-of-sequence tokens: like a real model, generation stops at the first one; TGI
# streams it as a special token and leaves it out of ``generated_text``.
EOS_TOKENS = ("<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<|EOT|>",
              "<|file_separator|>")


def cut_at_eos(reply: str) -> tuple[str, str]:
    """The text a model would emit before its first EOS token, and that token."""
    found = [(reply.index(t), t) for t in EOS_TOKENS if t in reply]
    if not found:
        return reply, "</s>"
    index, token = min(found)
    return reply[:index], token


def server_tokens(text: str) -> int:
    """The test server's "tokenizer": 4 characters a token (the client must not assume
    fewer characters per token than this)."""
    return math.ceil(len(text) / 4)


EMBEDDING_DIM = 32


def embedding_for(text: str, normalize: bool = True) -> list[float]:
    """The test server's embedding: words hashed into ``EMBEDDING_DIM`` buckets."""
    import hashlib

    vector = [0.0] * EMBEDDING_DIM
    for word in re.findall(r"[a-z]+", text.lower()):
        bucket = hashlib.blake2b(word.encode(), digest_size=2).digest()
        vector[int.from_bytes(bucket, "big") % EMBEDDING_DIM] += 1.0
    if normalize:
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vector = [x / norm for x in vector]
    return vector


def split_tokens(reply: str) -> list[str]:
    """Word-sized chunks (leading whitespace kept), so a stream has several chunks."""
    return _TOKEN_SPLIT.findall(reply) or [""]


def finish_reason(rule: Rule, reply: str, limit: Any, *, tgi: bool) -> str:
    """"length" when the reply used the whole token budget, else the model stopped."""
    if rule.finish_reason is not None:
        return rule.finish_reason
    if isinstance(limit, int) and len(split_tokens(reply)) >= limit:
        return "length"
    return "eos_token" if tgi else "stop"


@dataclass
class Rule:
    reply: str = DEFAULT_REPLY
    status: int = 200
    body: Any = _UNSET
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    token_delay_s: float = 0.0
    error_event: str | None = None
    error_type: str = "validation"
    error_after_tokens: int = 1
    disconnect_after_tokens: int | None = None
    sse_no_space: bool = False
    omit_done: bool = False
    keepalive: bool = False
    finish_reason: str | None = None
    times: int | None = None
    match_path: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown rule field(s): {', '.join(unknown)}")
        return cls(**data)

    def matches(self, path: str, generation: bool) -> bool:
        if self.match_path is None:
            return generation
        if self.match_path.endswith("*"):
            return path.startswith(self.match_path[:-1])
        return path == self.match_path


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    text: str
    authorization: str | None  # in-process only; never served over HTTP

    def public(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "text": self.text if self.json is None else None,
        }


class ClientGone(Exception):
    """The client closed the connection while we were answering."""


class HFTestServer:
    max_body_bytes = 2 * 1024 * 1024  # TGI's payload limit

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context  # HTTPS with this server certificate
        self.requests: list[Recorded] = []
        self.disconnects: list[str] = []
        self.interceptors: list[Interceptor] = []
        self._disconnect_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.reset()

    # ----- control -------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def reset(self) -> None:
        self.default = Rule()
        self.rules: list[Rule] = []
        self.engine = "all"
        self.info: dict[str, Any] = dict(DEFAULT_INFO)
        self.validate = True
        self.mappings: dict[str, dict[str, Any]] = {}
        self.router_models: dict[str, list[dict[str, Any]]] = {}
        self.requests.clear()
        self.disconnects.clear()

    def script(self, reply: str | None = None, **rule: Any) -> Rule:
        if reply is not None:
            rule["reply"] = reply
        parsed = Rule.from_json(rule)
        if parsed.times is not None or parsed.match_path is not None:
            self.rules.append(parsed)
        else:
            self.default = parsed
        return parsed

    def configure(
        self,
        *,
        engine: str | None = None,
        info: dict[str, Any] | None = None,
        validate: bool | None = None,
        mappings: dict[str, dict[str, Any]] | None = None,
        router_models: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        if engine is not None:
            if engine not in ("all", "tgi", "openai", "toolkit"):
                raise ValueError(f"unknown engine {engine!r}")
            self.engine = engine
        if info is not None:
            self.info = {**DEFAULT_INFO, **info}
        if validate is not None:
            self.validate = validate
        if mappings is not None:
            self.mappings.update(mappings)
        if router_models is not None:
            self.router_models.update(router_models)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    async def wait_for_disconnect(self, timeout: float = 2.0) -> bool:
        if self.disconnects:
            return True
        self._disconnect_event.clear()
        try:
            await asyncio.wait_for(self._disconnect_event.wait(), timeout)
        except asyncio.TimeoutError:
            return bool(self.disconnects)
        return True

    # ----- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a client disconnect cancels the handler, which we record.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HFTestServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # ----- dispatch ------------------------------------------------------------------

    def add_interceptor(self, interceptor: Interceptor) -> None:
        """Let ``interceptor`` see every request first (after it is recorded): it answers
        it (a response), routes it as another path (a string), or passes (None). The
        Inference Endpoints emulation (``tests/endpoints_server.py``) is one."""
        self.interceptors.append(interceptor)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_test/"):
            for interceptor in self.interceptors:
                answer = await interceptor(request, b"")
                if isinstance(answer, web.StreamResponse):
                    return answer
            return await self._control(request)
        raw = await request.read()
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        headers = {
            k: ("[REDACTED]" if k.lower() == "authorization" else v)
            for k, v in request.headers.items()
        }
        self.requests.append(
            Recorded(
                request.method, path, request.query_string, headers, body, text,
                request.headers.get("Authorization"),
            )
        )
        for interceptor in self.interceptors:
            answer = await interceptor(request, raw)
            if isinstance(answer, web.StreamResponse):
                return answer
            if isinstance(answer, str):
                path = answer
        route = self._route(request.method, path)
        generation = route in _GENERATION_ROUTES
        rule = self._take_rule(path, generation)
        try:
            if rule is not None and rule.delay_s:
                await self._sleep_watching(request, rule.delay_s)
            if route is None:
                if rule is not None and rule.match_path is not None:
                    return self._respond_static(rule)
                return web.Response(status=404, text="Not Found")
            if rule is not None and (rule.status >= 400 or rule.body is not _UNSET):
                return self._respond_static(rule)
            if route == "info":
                return web.json_response(self.info)
            if route == "models":
                return web.json_response(
                    {"object": "list", "data": [{"id": self.info["model_id"], "object": "model",
                                                 "created": 0, "owned_by": "test"}]}
                )
            if route == "health":
                return web.Response(status=200)
            if route in _EMBEDDING_ROUTES:
                return self._embed(route, body)
            if route == "hub-model":
                return web.json_response(self._model_info(path[len("/api/models/"):]))
            if route == "router-model":
                model_id = path[len("/v1/models/"):]
                if model_id not in self.router_models:
                    return web.json_response({"error": "Model not found"}, status=404)
                return web.json_response({"id": model_id, "object": "model",
                                          "providers": self.router_models[model_id]})
            if text and body is None:
                # axum answers malformed JSON with a plain-text 422.
                return web.Response(status=422, text="Failed to deserialize the JSON body")
            assert rule is not None
            return await self._generate(request, route, path, body or {}, rule)
        except (ClientGone, ConnectionResetError, asyncio.CancelledError):
            self._record_disconnect(path)
            raise

    def _record_disconnect(self, path: str) -> None:
        self.disconnects.append(path)
        self._disconnect_event.set()

    def _route(self, method: str, path: str) -> str | None:
        engine = self.engine
        tgi = engine in ("all", "tgi")
        openai = engine in ("all", "tgi", "openai")
        if method == "GET":
            if path.startswith("/api/models/"):
                return "hub-model"
            if path.startswith("/v1/models/"):
                return "router-model"
            if path == "/info" and tgi:
                return "info"
            if path in ("/health", "/") and engine != "openai":
                return "health"
            if re.fullmatch(r"(/[^/]+)?/v1/models", path) and openai:
                return "models"
            return None
        if method != "POST":
            return None
        if re.fullmatch(r"/hf-inference/models/.+/pipeline/feature-extraction", path):
            return "feature-extraction" if engine == "all" else None
        if path == "/embed" and engine in ("all", "tgi"):
            return "tei-embed"
        if re.fullmatch(r"(/[^/]+)?/v1(/openai)?/embeddings", path) and openai:
            return "openai-embeddings"
        if path == "/":
            return "textgen-array" if engine in ("all", "tgi", "toolkit") else None
        if path == "/generate" and tgi:
            return "generate"
        if path == "/generate_stream" and tgi:
            return "generate-stream"
        provider_prefix = r"(/hf-inference/models/.+|/[^/]+)?(/v1|/v3/openai|/v1/openai)"
        if re.fullmatch(provider_prefix + "/chat/completions", path) and openai:
            return "chat"
        if re.fullmatch(provider_prefix + "/completions", path) and openai:
            return "completions"
        if re.fullmatch(r"/hf-inference/models/[^/]+(/[^/]+)?", path) and engine == "all":
            return "textgen-array"
        return None

    def _embed(self, route: str, body: Any) -> web.Response:
        """Embeddings in each protocol's shape; malformed bodies get a 422 like TEI."""
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=422)
        if route == "openai-embeddings":
            texts = body.get("input")
            if isinstance(texts, str):
                texts = [texts]
            if not isinstance(texts, list) or not isinstance(body.get("model"), str):
                return web.json_response({"error": "'model' and 'input' required"}, status=422)
            data = [
                {"object": "embedding", "index": i, "embedding": embedding_for(t)}
                for i, t in enumerate(texts)
            ]
            # Out of order on purpose: clients must place vectors by their index.
            return web.json_response(
                {"object": "list", "data": data[::-1], "model": body["model"],
                 "usage": {"prompt_tokens": sum(server_tokens(t) for t in texts),
                           "total_tokens": sum(server_tokens(t) for t in texts)}}
            )
        texts = body.get("inputs")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return web.json_response({"error": "'inputs' must be a string or strings",
                                      "error_type": "Validation"}, status=422)
        if route == "tei-embed" and len(texts) > self.info["max_client_batch_size"] * 8:
            return web.json_response({"error": "batch size too large",
                                      "error_type": "Validation"}, status=422)
        normalize = body.get("normalize", True) is not False
        return web.json_response([embedding_for(t, normalize) for t in texts])

    def _take_rule(self, path: str, generation: bool) -> Rule | None:
        for rule in self.rules:
            if rule.matches(path, generation):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return self.default if generation else None

    async def _sleep_watching(self, request: web.Request, seconds: float) -> None:
        """Sleep, noticing a client that hangs up meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ClientGone()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.02))

    def _respond_static(self, rule: Rule) -> web.Response:
        body = rule.body if rule.body is not _UNSET else default_error_body(rule.status)
        headers = dict(rule.headers)
        if isinstance(body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return web.Response(status=rule.status, text=body, headers=headers)
        if body is None:
            return web.Response(status=rule.status, headers=headers)
        headers.setdefault("Content-Type", "application/json")
        return web.Response(status=rule.status, text=json.dumps(body), headers=headers)

    # ----- generation ----------------------------------------------------------------

    async def _generate(
        self, request: web.Request, route: str, path: str, body: dict[str, Any], rule: Rule
    ) -> web.StreamResponse:
        if route in ("textgen-array", "generate", "generate-stream"):
            inputs = body.get("inputs")
            parameters = body.get("parameters") or {}
            if not isinstance(inputs, str) or not isinstance(parameters, dict):
                return web.json_response(
                    {"error": "Input validation error: `inputs` must be a string",
                     "error_type": "validation"}, status=422,
                )
            if self.validate:
                problem = self._validate_tgi(inputs, parameters)
                if problem:
                    return web.json_response(
                        {"error": f"Input validation error: {problem}", "error_type": "validation"},
                        status=422,
                    )
            reply, eos = cut_at_eos(rule.reply)
            full = parameters.get("return_full_text")
            # hf-inference's task route returns the prompt too unless told not to.
            if route == "textgen-array" and path != "/" and full is not False:
                reply = inputs + reply
            stream = route == "generate-stream" or (
                route == "textgen-array" and body.get("stream") is True
            )
            if stream:
                return await self._stream(request, "tgi", rule, reply, body, eos)
            headers = {
                "x-compute-time": "0.01", "x-total-time": "10", "x-queue-time": "0",
                "x-inference-time": "10", "x-prompt-tokens": str(server_tokens(inputs)),
                "x-generated-tokens": str(len(split_tokens(reply))),
                **rule.headers,
            }
            if route == "generate":
                answer: Any = {"generated_text": reply}
                if parameters.get("details"):
                    answer["details"] = {
                        "finish_reason": finish_reason(
                            rule, reply, parameters.get("max_new_tokens"), tgi=True),
                        "generated_tokens": len(split_tokens(rule.reply)),
                        "seed": parameters.get("seed"),
                        "prefill": [],
                        "tokens": [],
                    }
            else:
                answer = [{"generated_text": reply}]
                if parameters.get("details") and path == "/":
                    answer[0]["details"] = {
                        "finish_reason": finish_reason(
                            rule, reply, parameters.get("max_new_tokens"), tgi=True),
                        "generated_tokens": len(split_tokens(rule.reply)),
                        "seed": parameters.get("seed"),
                        "prefill": [],
                        "tokens": [],
                    }
            return web.json_response(answer, headers=headers)
        model = body.get("model") if isinstance(body.get("model"), str) else "tgi"
        if route == "completions" and body.get("suffix") is not None:
            return web.json_response(
                {"error": "Input validation error: Suffix is not supported and can be achieved "
                          "by preprocessing the prompt.", "error_type": "validation"},
                status=422,
            )
        if route == "chat" and not isinstance(body.get("messages"), list):
            return web.json_response(
                {"error": "Failed to deserialize the JSON body: missing field `messages`"},
                status=422,
            )
        reply, eos = cut_at_eos(rule.reply)
        if body.get("stream"):
            return await self._stream(request, route, rule, reply, body, eos)
        usage = {"prompt_tokens": 5, "completion_tokens": len(split_tokens(reply)),
                 "total_tokens": 5 + len(split_tokens(reply))}
        common = {"id": "cmpl-test", "created": int(time.time()), "model": model,
                  "system_fingerprint": "3.3.4-native", "usage": usage}
        if route == "chat":
            answer = {**common, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply},
                 "logprobs": None,
                 "finish_reason": finish_reason(rule, reply, body.get("max_tokens"), tgi=False)}]}
        else:
            answer = {**common, "object": "text_completion", "choices": [
                {"index": 0, "text": reply, "logprobs": None,
                 "finish_reason": finish_reason(rule, reply, body.get("max_tokens"), tgi=False)}]}
        return web.json_response(answer, headers=rule.headers)

    def _model_info(self, model_id: str) -> dict[str, Any]:
        """The Hub's model info with its provider mapping (dict form)."""
        mapping = self.mappings.get(model_id)
        if mapping is None:
            mapping = {"hf-inference": {"status": "live", "providerId": model_id,
                                        "task": "text-generation"}}
        return {"_id": "0" * 24, "id": model_id, "modelId": model_id,
                "pipeline_tag": "text-generation", "tags": ["text-generation"],
                "inferenceProviderMapping": mapping}

    def hub_lookups(self) -> list[str]:
        """Model ids whose provider mapping was asked for."""
        return [r.path[len("/api/models/"):] for r in self.requests
                if r.method == "GET" and r.path.startswith("/api/models/")]

    def _validate_tgi(self, inputs: str, p: dict[str, Any]) -> str | None:
        """TGI's validation messages for the parameters clients most often get wrong."""
        temperature, top_p, top_k = p.get("temperature"), p.get("top_p"), p.get("top_k")
        if temperature is not None and temperature <= 0:
            return "`temperature` must be strictly positive"
        if top_p is not None and not 0 < top_p < 1:
            return "`top_p` must be > 0.0 and < 1.0"
        if top_k is not None and top_k <= 0:
            return "`top_k` must be strictly positive"
        penalty = p.get("repetition_penalty")
        if penalty is not None and penalty <= 0:
            return "`repetition_penalty` must be strictly positive"
        max_new = p.get("max_new_tokens")
        if max_new is not None and max_new <= 0:
            return "`max_new_tokens` must be strictly positive"
        stop = p.get("stop") or []
        max_stop = int(self.info.get("max_stop_sequences", 4))
        if len(stop) > max_stop:
            return f"`stop` supports up to {max_stop} stop sequences. Given: {len(stop)}"
        tokens = server_tokens(inputs)
        max_input = int(self.info.get("max_input_tokens", 1024))
        if tokens > max_input:
            return f"`inputs` must have less than {max_input} tokens. Given: {tokens}"
        total = int(self.info.get("max_total_tokens", 2048))
        if max_new is not None and tokens + max_new > total:
            return (
                f"`inputs` tokens + `max_new_tokens` must be <= {total}. "
                f"Given: {tokens} `inputs` tokens and {max_new} `max_new_tokens`"
            )
        return None

    async def _stream(
        self,
        request: web.Request,
        kind: str,
        rule: Rule,
        reply: str,
        body: dict[str, Any],
        eos: str = "</s>",
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                     **rule.headers},
        )
        await response.prepare(request)
        prefix = "data:" if rule.sse_no_space else "data: "

        async def send(payload: str) -> None:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ClientGone()
            await response.write(f"{prefix}{payload}\n\n".encode())

        tokens = split_tokens(reply) if reply else []
        model = body.get("model") if isinstance(body.get("model"), str) else "tgi"
        created = int(time.time())

        def chunk(delta: dict[str, Any] | None, text: str | None, finish: str | None) -> str:
            if kind == "chat":
                return json.dumps({
                    "object": "chat.completion.chunk", "id": "chunk", "created": created,
                    "model": model, "system_fingerprint": "3.3.4-native",
                    "choices": [{"index": 0, "delta": delta or {}, "logprobs": None,
                                 "finish_reason": finish}],
                })
            return json.dumps({
                "object": "text_completion", "id": "chunk", "created": created, "model": model,
                "system_fingerprint": "3.3.4-native",
                "choices": [{"index": 0, "text": text or "", "logprobs": None,
                             "finish_reason": finish}],
            })

        if kind == "chat":
            await send(chunk({"role": "assistant", "content": ""}, None, None))
        for index, token in enumerate(tokens):
            if rule.disconnect_after_tokens is not None and index >= rule.disconnect_after_tokens:
                assert request.transport is not None
                request.transport.abort()  # drop mid-stream: no end of the chunked body
                return response
            if rule.error_event is not None and index >= rule.error_after_tokens:
                await self._send_stream_error(kind, rule, send)
                await response.write_eof()
                return response
            if index and rule.token_delay_s:
                await self._sleep_watching(request, rule.token_delay_s)
            if rule.keepalive:
                await response.write(b":\n\n")
            if kind == "tgi":
                await send(json.dumps({
                    "index": index + 1,
                    "token": {"id": 100 + index, "text": token, "logprob": -0.1, "special": False},
                    "generated_text": None, "details": None, "top_tokens": None,
                }))
            elif kind == "chat":
                await send(chunk({"role": "assistant", "content": token}, None, None))
            else:
                await send(chunk(None, token, None))
        if rule.error_event is not None:
            await self._send_stream_error(kind, rule, send)
            await response.write_eof()
            return response
        if kind == "tgi":
            parameters = body.get("parameters") or {}
            details = None
            if parameters.get("details"):
                details = {"finish_reason": finish_reason(
                               rule, reply, parameters.get("max_new_tokens"), tgi=True),
                           "generated_tokens": len(tokens), "seed": parameters.get("seed")}
            await send(json.dumps({
                "index": len(tokens) + 1,
                "token": {"id": 2, "text": eos, "logprob": -0.01, "special": True},
                "generated_text": reply, "details": details, "top_tokens": None,
            }))
        else:
            await send(chunk({}, None, finish_reason(rule, reply, body.get("max_tokens"),
                                                     tgi=False)))
            options = body.get("stream_options") or {}
            if isinstance(options, dict) and options.get("include_usage"):
                await send(json.dumps({"object": "chat.completion.chunk", "id": "chunk",
                                       "created": created, "model": model, "choices": [],
                                       "usage": {"prompt_tokens": 5,
                                                 "completion_tokens": len(tokens),
                                                 "total_tokens": 5 + len(tokens)}}))
            if not rule.omit_done:
                await send("[DONE]")
        await response.write_eof()
        return response

    async def _send_stream_error(self, kind: str, rule: Rule, send: Any) -> None:
        if kind == "tgi":
            await send(json.dumps({"error": rule.error_event, "error_type": rule.error_type}))
            return
        status = {"validation": 422, "overloaded": 429, "generation": 424}.get(rule.error_type, 500)
        await send(json.dumps({"error": {"message": rule.error_event, "http_status_code": status}}))
        if not rule.omit_done:
            await send("[DONE]")

    # ----- HTTP control --------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        path = request.path
        try:
            if path == "/_test/script" and request.method == "POST":
                data = await request.json()
                self.script(**data)
                return web.json_response({"ok": True})
            if path == "/_test/config" and request.method == "POST":
                self.configure(**(await request.json()))
                return web.json_response({"ok": True})
            if path == "/_test/reset" and request.method == "POST":
                self.reset()
                return web.json_response({"ok": True})
            if path == "/_test/requests" and request.method == "GET":
                return web.json_response([r.public() for r in self.requests])
            if path == "/_test/disconnects" and request.method == "GET":
                return web.json_response(self.disconnects)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"error": f"unknown control route {path}"}, status=404)


def default_error_body(status: int) -> Any:
    """The reference's typical body for an error status, when a rule names none."""
    if status == 503:
        return {"error": "Model bigcode/starcoder2-3b is currently loading", "estimated_time": 20.0}
    if status == 429:
        return {"error": "Model is overloaded", "error_type": "overloaded"}
    if status == 401:
        return {"error": "Invalid username or password."}
    if status == 402:
        return {"error": "You have exceeded your monthly included credits for Inference Providers."}
    if status == 404:
        return {"error": "Model bigcode/nonexistent does not exist"}
    if status == 410:
        return {"error": "https://api-inference.huggingface.co is no longer supported. "
                         "Please use https://router.huggingface.co/hf-inference instead."}
    if status == 422:
        return {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be "
                         "<= 2048. Given: 1900 `inputs` tokens and 256 `max_new_tokens`",
                "error_type": "validation"}
    if status == 424:
        return {"error": "Request failed during generation: Server error: CUDA OOM",
                "error_type": "generation"}
    return {"error": f"HTTP {status}"}


# ----- pytest fixture (only when pytest is present) -----------------------------------

try:
    import pytest_asyncio
except ImportError:  # standalone use without pytest
    pytest_asyncio = None

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def hf_server() -> AsyncIterator[HFTestServer]:
        async with HFTestServer() as server:
            yield server


# ----- standalone ---------------------------------------------------------------------


async def _serve(host: str, port: int, port_file: str | None) -> None:
    server = HFTestServer(host, port)
    try:
        from tests.endpoints_server import EndpointsEmulator
    except ImportError:  # run as a script: tests/ is on sys.path, the package is not
        from endpoints_server import EndpointsEmulator  # type: ignore[no-redef]
    EndpointsEmulator(server)
    await server.start()
    if port_file:
        target = Path(port_file)
        partial = target.with_name(target.name + ".tmp")
        partial.write_text(f"{server.port}\n", encoding="utf-8")
        os.replace(partial, target)  # readers never see a half-written file
    print(f"hf_server listening on {server.url}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.port_file))


if __name__ == "__main__":
    main()
