"""What every model-using command shares: quiet logging, the config (problems printed
once to stderr), an inference client bound to the config's hosts, and a clean close."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..log import setup_logging

if TYPE_CHECKING:
    from ..config import LoadedConfig
    from ..documents import Document
    from ..features.autocomplete import Autocomplete
    from ..inference import InferenceClient, WaitEvent
    from ..usage.accounting import Accounting
    from ..workspace.engine import ContextEngine


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
    accounting.govern(client)
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


def parse_point(point: str) -> tuple[Path, int, int]:
    """``FILE:LINE:COL`` with 1-based line and column (columns count characters)."""
    path, line, column = point.rsplit(":", 2)
    if not path or int(line) < 1 or int(column) < 1:
        raise ValueError(point)
    return Path(path), int(line), int(column)


@dataclass(frozen=True)
class PointInFile:
    """A ``FILE:LINE:COL`` argument read: the file (symlinks resolved) as a document, the
    offset of the point (a column past the line's end stops at the end), and the
    workspace the file belongs to."""

    path: Path
    document: Document
    offset: int
    root: Path

    def autocomplete(
        self, client: InferenceClient, loaded: LoadedConfig, context: ContextEngine
    ) -> Autocomplete:
        """The autocomplete engine for a command at this point: the config's models,
        no debounce (nobody is typing)."""
        from ..config import models_for_role
        from ..features.autocomplete import Autocomplete

        return Autocomplete(
            client,
            lambda role: models_for_role(loaded.config, role),
            debounce_ms=lambda: 0,
            workspace_root=lambda: str(self.root),
            context=context,
        )


def read_point(point: str) -> PointInFile | None:
    """The file and offset a ``FILE:LINE:COL`` argument names, or None (why on stderr).

    The language comes from the name as given, as an editor opening that name would
    choose it; a name that says nothing (``bin/tool`` linked to ``tool.py``) falls back
    to the file it resolves to. The document's URI is the resolved file's."""
    from lsprotocol import types

    from ..documents import Document, language_for_path
    from ..workspace.paths import workspace_root_of

    try:
        path, line, column = parse_point(point)
    except ValueError:
        fail(f"expected FILE:LINE:COL (1-based), got '{point}'")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
        return None
    resolved = path.resolve()
    language = language_for_path(path) or language_for_path(resolved) or ""
    document = Document(resolved.as_uri(), text, 0, language)
    offset = document.offset_at(types.Position(line=line - 1, character=0))
    offset = min(offset + column - 1, document.line_end(offset))
    return PointInFile(resolved, document, offset, workspace_root_of(resolved))


def read_point_and_config(
    point: str, config_path: str | None
) -> tuple[PointInFile, LoadedConfig] | None:
    """``read_point``, then the config (``load_config``); None once either has said on
    stderr why not."""
    read = read_point(point)
    if read is None:
        return None
    loaded = load_config(config_path)
    return None if loaded is None else (read, loaded)


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; Ctrl+C exits with 130 like a shell would."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        return 130
