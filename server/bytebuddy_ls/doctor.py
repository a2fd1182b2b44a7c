"""``bytebuddy-ls doctor``: config, token source and reachability of every model.

Never prints a secret: tokens are reported by where they came from, and every line
goes through ``redact``."""

from __future__ import annotations

import asyncio
import platform
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from . import __version__
from .config import (
    ConfigError,
    ConfigSourceKind,
    LoadedConfig,
    ModelConfig,
    is_hf_host,
    resolve_token,
)
from .config.discovery import no_config_hint
from .config.report import format_role_table, load_for_cli
from .config.schema import ROUTER_BASE
from .inference import HostPolicy, InferenceClient
from .inference.errors import HostNotAllowedError
from .log import redact, setup_logging


@dataclass(frozen=True)
class Probe:
    model: str
    url: str
    outcome: str
    ok: bool


def probe_urls(model: ModelConfig) -> list[str]:
    """Cheap GETs that tell whether the model's server answers, best first."""
    base = model.effective_api_base
    if model.provider == "openai":
        v1 = base if base.endswith("/v1") else f"{base}/v1"
        return [f"{v1}/models"]
    if model.provider == "huggingface-tgi":
        return [f"{base}/info", f"{base}/health"]
    if base == ROUTER_BASE:
        return [f"{ROUTER_BASE}/v1/models"]
    return [f"{base}/info", f"{base}/v1/models", f"{base}/health"]


def _describe_status(status: int) -> tuple[str, bool]:
    if status < 400:
        return "reachable", True
    hints = {
        401: "token missing or rejected: set apiKey, HF_TOKEN or run `huggingface-cli login`",
        402: "out of credits on this account",
        403: "token lacks permission for this model",
        404: "not found: check the model id / apiBase",
        410: "gone: this API was retired",
        503: "reachable, model loading or endpoint waking up",
    }
    return f"HTTP {status}: {hints.get(status, 'server error')}", status == 503


async def _probe(client: InferenceClient, model: ModelConfig, timeout: float) -> Probe:
    last = Probe(model.name, "", "not probed", False)
    for url in probe_urls(model):
        started = time.perf_counter()
        try:
            response = await client.probe(model, url, timeout=timeout)
        except HostNotAllowedError as exc:
            return Probe(model.name, url, f"refused: {exc.user_message}", False)
        except httpx.TimeoutException:
            last = Probe(model.name, url, f"timed out after {timeout:g} s", False)
            continue
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            detail = str(exc).split("\n")[0] or reason
            last = Probe(model.name, url, f"unreachable ({detail})", False)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        outcome, ok = _describe_status(response.status_code)
        if response.status_code == 404 and url != probe_urls(model)[-1]:
            last = Probe(model.name, url, outcome, ok)
            continue
        return Probe(model.name, url, f"{outcome} ({elapsed:.0f} ms)", ok)
    return last


async def _probe_all(
    loaded: LoadedConfig, models: list[ModelConfig], timeout: float
) -> list[Probe]:
    """Every model probed through the server's own client: its host policy, TLS settings,
    redirect rule and headers (tokens only where the server would send them)."""
    client = InferenceClient(user_agent="(doctor)")
    client.set_host_policy(HostPolicy.for_config(loaded))
    try:
        return await asyncio.gather(*(_probe(client, m, timeout) for m in models))
    finally:
        await client.aclose()


def _local_probe(model: ModelConfig) -> Probe:
    """In-process models: whether they can run (installed, file present), not loaded."""
    from .inference.local import describe

    outcome, ok = describe(model)
    return Probe(model.name, "", outcome, ok)


def run_doctor(config_path: str | None, *, timeout: float = 4.0) -> int:
    setup_logging("warning")
    out: list[str] = [
        f"bytebuddy-ls {__version__} · Python {platform.python_version()} · {sys.platform}"
    ]
    try:
        loaded = load_for_cli(config_path)
    except ConfigError as exc:
        out.append("config: INVALID")
        out += [f"  {d}" for d in exc.diagnostics]
        print(redact("\n".join(out)))
        return 1
    if loaded is None:
        out.append(
            "config: none found. Create ~/.bytebuddy/config.yaml (see config.example.yaml) "
            f"or pass --config PATH. {no_config_hint()}"
        )
        print(redact("\n".join(out)))
        return 1
    if loaded.kind is ConfigSourceKind.EMBEDDED:
        out.append(
            "config: none found, so every role uses the bundled "
            "local model: Gemma 3 270M, tiny and weak, in-process on the CPU, offline. For "
            "real work, create ~/.bytebuddy/config.yaml with a Hugging Face model."
        )
    else:
        out.append(f"config: {loaded.origin} ({loaded.kind.value}), valid")
    out += [f"  warning: {w.message} ({w.origin}:{w.line}:{w.column})" for w in loaded.warnings]
    out.append("")
    out.append(format_role_table(loaded))
    out.append("")

    usable = [m for m in loaded.config.models if m.unusable is None]
    remote = [m for m in usable if not m.is_local]
    probes = {p.model: p for p in asyncio.run(_probe_all(loaded, remote, timeout))}
    probes.update({m.name: _local_probe(m) for m in usable if m.is_local})
    rows = [("MODEL", "PROVIDER", "API BASE", "TOKEN", "REACHABILITY")]
    for model in loaded.config.models:
        if model.is_local:
            reach = model.unusable or probes[model.name].outcome
            rows.append((model.name, model.provider, "-", "-", reach))
            continue
        token = resolve_token(model) if model.unusable is None else None
        token_text = token.source if token else "none"
        reach = model.unusable or probes[model.name].outcome
        rows.append((model.name, model.provider, model.effective_api_base, token_text, reach))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.append("  ".join([*cells, row[-1]]))
    tokenless = [
        m.name
        for m in remote
        if resolve_token(m) is None and is_hf_host(urlsplit(m.effective_api_base).hostname)
    ]
    if tokenless and loaded.trusted:
        out.append("")
        out.append(
            f"no token for {', '.join(tokenless)}: set HF_TOKEN (or apiKey in the config), "
            "or run `huggingface-cli login`"
        )
    print(redact("\n".join(out)))
    all_ok = all(p.ok for p in probes.values()) and len(probes) == len(loaded.config.models)
    return 0 if all_ok else 2
