"""``bytebuddy-ls doctor``: config, token source and reachability of every model.

It asks through the same inference client the server uses (proxies, CA bundle, host
rules, headers), so "reachable" here means reachable for completions too. Per router
model it shows which provider serves autocomplete and chat (warning on ``staging`` or
``error`` providers and on models no provider serves as text-generation); for an
OpenAI-compatible server it checks the model id against ``/v1/models``; for other
servers it names the protocol it detected.

Never prints a secret: tokens are reported by where they came from, and every line
goes through ``redact``."""

from __future__ import annotations

import asyncio
import platform
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import __version__
from .config import (
    ConfigError,
    ConfigSourceKind,
    LoadedConfig,
    ModelConfig,
    is_hf_host,
    resolve_token,
)
from .config.discovery import embedded_model_summary, no_config_hint
from .config.report import format_role_table, load_for_cli
from .config.schema import RequestOptions
from .inference import (
    ConnectError,
    GatedModelError,
    HostPolicy,
    InferenceClient,
    InferenceError,
    ModelLoadingError,
    RetryPolicy,
    UpstreamTimeoutError,
)
from .inference.mapping import ProviderEntry, chat_providers, pick_raw_prompt
from .inference.openai_compat import join_v1
from .inference.routing import pinned_provider, split_provider
from .log import redact, setup_logging


@dataclass(frozen=True)
class Probe:
    model: str
    url: str
    outcome: str
    ok: bool
    details: tuple[str, ...] = ()  # lines shown under the table (routes, warnings)


def _describe_error(error: InferenceError) -> tuple[str, bool]:
    """A short REACHABILITY cell for an error, and whether the model is still usable."""
    if isinstance(error, ConnectError):
        return f"unreachable ({error.detail})", False
    if isinstance(error, UpstreamTimeoutError):
        return f"timed out ({error.detail})", False
    if isinstance(error, ModelLoadingError):
        what = "endpoint waking up" if error.waking else "model loading"
        return f"reachable, {what}", True
    status = f"HTTP {error.status}: " if error.status else ""
    hints = {
        "auth": "token missing or rejected: set apiKey, HF_TOKEN or run `huggingface-cli login`",
        "payment_required": "out of credits on this account",
        "not_found": "not found: check the model id / apiBase",
    }
    if isinstance(error, GatedModelError):
        return f"{status}{error.hint}", False
    return f"{status}{hints.get(error.kind, error.detail)}", False


def _route_lines(model: ModelConfig, entries: tuple[ProviderEntry, ...]) -> list[str]:
    """Which router provider serves autocomplete and chat, with warnings."""
    lines: list[str] = []
    pinned = pinned_provider(model.model)

    def state(entry: ProviderEntry) -> str:
        if entry.live:
            return f"{entry.provider} ({entry.provider_id or model.model})"
        return f"{entry.provider} ({entry.provider_id}) WARNING: status '{entry.status}'"

    if "autocomplete" in model.roles:
        if model.autocomplete.via == "chat":
            lines.append("autocomplete → through chat (autocomplete: {via: chat})")
        else:
            chosen = pick_raw_prompt(entries, pinned)
            if chosen is not None:
                lines.append(f"autocomplete → {state(chosen)}, text-generation")
            else:
                chat = ", ".join(chat_providers(entries)) or "none"
                lines.append(
                    "autocomplete → WARNING: no provider serves it as text-generation "
                    f"(chat providers: {chat}); use another model or autocomplete: {{via: chat}}"
                )
    if set(model.roles) - {"autocomplete"} or model.autocomplete.via == "chat":
        if pinned is not None:
            entry = next((e for e in entries if e.provider == pinned), None)
            if entry is None:
                lines.append(f"chat → WARNING: provider '{pinned}' does not serve this model")
            else:
                lines.append(f"chat → {state(entry)}")
        else:
            live = chat_providers(entries) or [e.provider for e in entries if e.live]
            policy = split_provider(model.model)[1] or "fastest"
            if live:
                lines.append(f"chat → the router picks ({policy}) among {', '.join(live)}")
            else:
                lines.append("chat → WARNING: no live provider serves this model")
    return lines


async def _check(client: InferenceClient, model: ModelConfig) -> Probe:
    """Reachability, protocol and routes of one remote model, through the same client
    (proxies, CA bundle, headers) the server uses."""
    http = client.http
    base = http.router.base(model)
    started = time.perf_counter()
    try:
        if http.router.is_router(model):
            url = f"{base}/v1/models"
            await http.get_json(model, url)
            elapsed = (time.perf_counter() - started) * 1000
            entries = await http.provider_mapping(model)
            lines = _route_lines(model, entries)
            ok = not any("WARNING" in line for line in lines)
            return Probe(model.name, url, f"reachable ({elapsed:.0f} ms), router", ok, tuple(lines))
        engine = await http.engine(model)
        elapsed = (time.perf_counter() - started) * 1000
        if engine == "tgi":
            root = base.removesuffix("/v1")
            info = await http.get_json(model, f"{root}/info")
            elapsed = (time.perf_counter() - started) * 1000
            serving = (
                f", serving {info['model_id']}"
                if isinstance(info, dict) and info.get("model_id")
                else ""
            )
            return Probe(
                model.name, f"{root}/info", f"reachable ({elapsed:.0f} ms), TGI{serving}", True
            )
        if engine == "toolkit":
            return Probe(
                model.name,
                base,
                f"reachable ({elapsed:.0f} ms), Endpoints toolkit (POST /, no chat)",
                True,
            )
        url = join_v1(base, "models")
        served = _served_ids(await http.get_json(model, url))
        protocol = f"reachable ({elapsed:.0f} ms), OpenAI-compatible"
        if served and model.model not in served:
            listing = ", ".join(served[:5])
            line = (
                f"WARNING: the server does not serve '{model.model}' "
                f"(its /v1/models lists: {listing})"
            )
            return Probe(model.name, url, protocol, False, (line,))
        return Probe(model.name, url, protocol, True)
    except InferenceError as error:
        outcome, ok = _describe_error(error)
        return Probe(model.name, base, outcome, ok)


def _served_ids(data: object) -> list[str]:
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return []
    return [str(r["id"]) for r in rows if isinstance(r, dict) and r.get("id")]


async def _probe_all(
    loaded: LoadedConfig, models: list[ModelConfig], timeout: float
) -> list[Probe]:
    client = InferenceClient(user_agent="doctor", policy=RetryPolicy(connect_timeout_s=timeout))
    client.set_host_policy(HostPolicy.for_config(loaded))
    quick = [m.model_copy(update={"requestOptions": _quick(m, timeout)}) for m in models]
    try:
        return await asyncio.gather(
            *(_check_endpoint(client, m) if m.endpoint else _check(client, m) for m in quick)
        )
    finally:
        await client.aclose()


async def _check_endpoint(client: InferenceClient, model: ModelConfig) -> Probe:
    """A model naming its Inference Endpoint: the state from the management API; only a
    running endpoint is probed (a request would wake a scaled-to-zero one, and bill)."""
    from .endpoints import EndpointManager
    from .endpoints.api import api_url

    assert model.endpoint is not None
    name = model.endpoint.name
    manager = EndpointManager()
    try:
        info = await manager.refresh(model)
        resolved = manager.resolved(model)
        view = manager.view(model.name) or {}
    finally:
        await manager.aclose()
    if info is None:
        return Probe(model.name, api_url(), f"Endpoints API: {view.get('message', '?')}", False)
    where = f"{info.namespace}/{info.name}"
    if info.running:
        probe = await _check(client, resolved)
        return Probe(
            model.name, probe.url, f"endpoint {where} running; {probe.outcome}", probe.ok,
            probe.details,
        )
    if info.state == "scaledToZero":
        outcome = f"endpoint {where} scaled to zero (the next request wakes it)"
        return Probe(model.name, info.url or api_url(), outcome, True)
    hint = {
        "paused": f": `bytebuddy-ls endpoint resume {name}` (it bills while running)",
        "failed": ": see its logs on huggingface.co",
        "updateFailed": ": see its logs on huggingface.co",
    }.get(info.state, "")
    starting = info.state in ("pending", "initializing", "updating")
    return Probe(model.name, api_url(), f"endpoint {where} {info.state}{hint}", starting)


def _quick(model: ModelConfig, timeout: float) -> RequestOptions:
    return model.requestOptions.model_copy(
        update={"timeout": min(model.requestOptions.timeout, timeout)}
    )


def _local_probe(model: ModelConfig) -> Probe:
    """In-process models: whether they can run (installed, file present), not loaded."""
    from .inference.local import describe

    outcome, ok = describe(model)
    return Probe(model.name, "", outcome, ok)


def _model_row(model: ModelConfig, probes: dict[str, Probe]) -> tuple[str, str, str, str, str]:
    """One model's row of the table: name, provider, API base, token source, reachability
    (or why the model cannot be used)."""
    reach = model.unusable or probes[model.name].outcome
    if model.is_local:
        return (model.name, model.provider, "-", "-", reach)
    token = resolve_token(model) if model.unusable is None else None
    token_text = token.source if token else "none"
    base = model.effective_api_base
    if model.endpoint is not None and model.apiBase is None:
        base = f"endpoint {model.endpoint.name}"
    return (model.name, model.provider, base, token_text, reach)


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
            "config: none found, so every role uses the bundled local model: "
            f"{embedded_model_summary()}; in-process on the CPU, offline. For real work, "
            "create ~/.bytebuddy/config.yaml with a Hugging Face model."
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
    rows += [_model_row(model, probes) for model in loaded.config.models]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.append("  ".join([*cells, row[-1]]))
    for model in loaded.config.models:
        probe = probes.get(model.name)
        if probe is not None and probe.details:
            out.append("")
            out.append(f"{model.name} ({model.model}):")
            out += [f"  {line}" for line in probe.details]
    tokenless = [
        m.name
        for m in remote
        if resolve_token(m) is None and is_hf_host(urlsplit(m.effective_api_base).hostname)
    ]
    if tokenless and loaded.trusted:  # an untrusted config's warnings say why already
        out.append("")
        out.append(
            f"no token for {', '.join(tokenless)}: set HF_TOKEN (or apiKey in the config), "
            "or run `huggingface-cli login`"
        )
    print(redact("\n".join(out)))
    all_ok = all(p.ok for p in probes.values()) and len(probes) == len(loaded.config.models)
    return 0 if all_ok else 2
