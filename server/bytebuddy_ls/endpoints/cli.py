"""``bytebuddy-ls endpoint list|status|resume|pause|scale-to-zero|wait [NAME]``.

NAME is an endpoint name, or the name of a config model with ``endpoint:`` (then the
config gives its namespace and token). The namespace: ``--namespace``, else the
config's, else the token's user. Exit codes: 0 done (``status``: running), 1 error,
3 (``status``) not running, 124 (``wait``) still not running at the timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TextIO

from ..config.schema import ModelConfig
from .api import EndpointInfo, EndpointsAPI, EndpointsAPIError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3
EXIT_TIMEOUT = 124


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from ..log import setup_logging

    setup_logging("error")
    out = out or sys.stdout
    err = err or sys.stderr
    if args.action != "list" and not args.name:
        print(f"endpoint {args.action}: NAME is required", file=err)
        return EXIT_ERROR
    if args.timeout <= 0:
        print("--timeout must be > 0", file=err)
        return EXIT_ERROR
    models = _config_models(args.config, err)
    try:
        return asyncio.run(_run(args, models, out, err))
    except KeyboardInterrupt:
        return 130


def _config_models(path: str | None, err: TextIO) -> list[ModelConfig]:
    """The config's models, when there is one (the command also works without)."""
    from ..config.loader import ConfigError
    from ..config.report import load_for_cli

    try:
        loaded = load_for_cli(path, embedded=False)
    except ConfigError as exc:
        if path is not None:
            print(f"config: {exc}", file=err)
        return []
    return list(loaded.config.models) if loaded else []


def _match(name: str | None, models: list[ModelConfig]) -> ModelConfig | None:
    if name is None:
        return next((m for m in models if m.endpoint is not None), None)
    for model in models:
        if model.endpoint is not None and name in (model.name, model.endpoint.name):
            return model
    return None


def _api_for(model: ModelConfig | None) -> EndpointsAPI:
    from ..config.tokens import resolve_token

    if model is None:
        from ..config.schema import ModelConfig as Model

        model = Model(name="cli", provider="huggingfaceinferenceapi", model="cli")
    token = resolve_token(model.model_copy(update={"apiBase": None}))
    return EndpointsAPI(token.value.get_secret_value() if token else None)


async def _run(
    args: argparse.Namespace, models: list[ModelConfig], out: TextIO, err: TextIO
) -> int:
    model = _match(args.name, models)
    api = _api_for(model)
    name = model.endpoint.name if model is not None and model.endpoint else args.name
    try:
        namespace = args.namespace or (
            model.endpoint.namespace if model and model.endpoint else None
        )
        if namespace is None:
            namespace = await api.whoami()
        if args.action == "list":
            return await _list(api, namespace, models, args.json, out)
        if args.action == "status":
            info = await api.get(namespace, name)
            _print_status(info, models, args.json, out)
            return EXIT_OK if info.running else EXIT_NOT_RUNNING
        if args.action == "wait":
            return await _wait(api, namespace, name, args.timeout, out, err)
        verb = {"resume": api.resume, "pause": api.pause, "scale-to-zero": api.scale_to_zero}
        info = await verb[args.action](namespace, name)
        done = {"resume": "resuming", "pause": "paused", "scale-to-zero": "scaled to zero"}
        print(f"{info.name}: {done[args.action]} (state: {info.state})", file=out)
        if args.action == "resume" and not info.running:
            print(f"  `bytebuddy-ls endpoint wait {info.name}` waits until it runs", file=out)
        return EXIT_OK
    except EndpointsAPIError as exc:
        print(f"endpoint {args.action}: {exc.message}", file=err)
        return EXIT_TIMEOUT if exc.kind == "timeout" else EXIT_ERROR
    finally:
        await api.aclose()


def _used_by(info: EndpointInfo, models: list[ModelConfig]) -> list[str]:
    return [
        m.name
        for m in models
        if m.endpoint is not None
        and m.endpoint.name == info.name
        and m.endpoint.namespace in (None, info.namespace)
    ]


async def _list(
    api: EndpointsAPI, namespace: str, models: list[ModelConfig], as_json: bool, out: TextIO
) -> int:
    endpoints = await api.list(namespace)
    if as_json:
        rows = [{**e.to_json(), "usedBy": _used_by(e, models)} for e in endpoints]
        print(json.dumps(rows, indent=2), file=out)
        return EXIT_OK
    if not endpoints:
        print(f"no Inference Endpoints in namespace '{namespace}'", file=out)
        return EXIT_OK
    table = [("NAME", "STATE", "MODEL", "INSTANCE", "CONFIG")]
    for e in endpoints:
        used = ", ".join(_used_by(e, models)) or "-"
        table.append((e.name, e.state, e.repository or "-", e.instance or "-", used))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print(f"namespace {namespace}", file=out)
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)
    return EXIT_OK


def _print_status(
    info: EndpointInfo, models: list[ModelConfig], as_json: bool, out: TextIO
) -> None:
    if as_json:
        print(json.dumps({**info.to_json(), "usedBy": _used_by(info, models)}, indent=2), file=out)
        return
    lines = [
        ("endpoint", f"{info.namespace}/{info.name}"),
        ("state", info.state + (f" ({info.message})" if info.message else "")),
        ("url", info.url or "-"),
        ("model", info.repository or "-"),
        ("instance", info.instance or "-"),
    ]
    if info.min_replica is not None or info.max_replica is not None:
        replicas = f"{info.min_replica if info.min_replica is not None else '?'}–"
        replicas += f"{info.max_replica if info.max_replica is not None else '?'}"
        if info.scale_to_zero_timeout_min and info.min_replica == 0:
            replicas += f", scales to zero after {info.scale_to_zero_timeout_min} min idle"
        lines.append(("replicas", replicas))
    used = _used_by(info, models)
    if used:
        lines.append(("config", ", ".join(used)))
    hint = {
        "paused": f"`bytebuddy-ls endpoint resume {info.name}` resumes it (it bills while running)",
        "scaledToZero": "the next request wakes it (cold start)",
    }.get(info.state)
    if hint:
        lines.append(("hint", hint))
    for key, value in lines:
        print(f"{key:<9} {value}", file=out)


async def _wait(
    api: EndpointsAPI, namespace: str, name: str, timeout: float, out: TextIO, err: TextIO
) -> int:
    started = time.monotonic()
    last_line = [0.0]

    def on_state(info: EndpointInfo) -> None:
        elapsed = time.monotonic() - started
        last_line[0] = elapsed
        print(f"{name}: {info.state} ({elapsed:.0f} s)", file=err, flush=True)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(10.0)
            elapsed = time.monotonic() - started
            print(f"{name}: still waiting ({elapsed:.0f} s of {timeout:g} s)", file=err, flush=True)

    from .manager import poll_interval

    tick = asyncio.ensure_future(ticker())
    try:
        info = await api.wait(
            namespace, name, timeout_s=timeout, on_state=on_state, interval_s=poll_interval()
        )
    finally:
        tick.cancel()
    print(f"{info.name}: running at {info.url} ({time.monotonic() - started:.0f} s)", file=out)
    return EXIT_OK
