"""What every model-using command shares: quiet logging, the config (problems printed
once to stderr), an inference client bound to the config's hosts, and a clean close."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..log import setup_logging

if TYPE_CHECKING:
    from ..config import LoadedConfig
    from ..inference import InferenceClient, WaitEvent
    from ..usage.accounting import Accounting


def load_config(path: str | None) -> LoadedConfig | None:
    """The config for a command that needs a model, or None (the reason on stderr).
    Logging is set to errors only: a problem is printed once, not logged as well."""
    from ..config.report import load_or_report

    setup_logging("error")
    return load_or_report(path)


@asynccontextmanager
async def inference_client(loaded: LoadedConfig) -> AsyncIterator[InferenceClient]:
    """An inference client that may talk to the hosts ``loaded`` names; closed after."""
    from ..inference import HostPolicy, InferenceClient

    client = InferenceClient(user_agent="cli")
    client.set_host_policy(HostPolicy.for_config(loaded))
    accounting = _accounting(loaded)
    client.add_observer(accounting.observe)
    client.refusal = lambda model, role: accounting.refusal(model.name, role)
    endpoints = None
    if any(m.endpoint is not None for m in loaded.config.models):
        # Models naming an Inference Endpoint: its URL and state from the management API
        # (a paused one is an error that says how to resume it; nothing asks here).
        from ..endpoints import EndpointManager

        endpoints = EndpointManager()
        client.set_preparer(endpoints)
    try:
        yield client
    finally:
        if endpoints is not None:
            await endpoints.aclose()
        await client.aclose()
        await asyncio.to_thread(accounting.close)


def _accounting(loaded: LoadedConfig) -> Accounting:
    """The command's calls go to the usage ledger and count against budgets, like the
    server's; problems and budget alerts are printed to stderr."""
    import os

    from ..config.schema import ROUTER_BASE
    from ..inference.client import ROUTER_URL_ENV
    from ..state import state_dir
    from ..usage.accounting import Accounting

    accounting = Accounting(
        state_dir=state_dir(),
        router_base=os.environ.get(ROUTER_URL_ENV) or ROUTER_BASE,
        report=lambda _cause, message: print(f"bytebuddy-ls: {message}", file=sys.stderr),
        alert=lambda alert: print(alert.message, file=sys.stderr),
    )
    accounting.start()
    accounting.configure(loaded)
    return accounting


def print_wait(event: WaitEvent) -> None:
    """A wait (model loading, endpoint waking, rate limit) as one line on stderr."""
    print(f"… {event.message}", file=sys.stderr, flush=True)


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; Ctrl+C exits with 130 like a shell would."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        return 130
