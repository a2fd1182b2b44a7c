"""The language server: a pygls ``LanguageServer`` that wires the features together.

Start-up is kept light because the editor waits for the ``initialize`` answer: the
feature modules register their handlers when the server is built, but the services
behind them (settings, config, the inference client, the autocomplete engine) are
created on first use, which is after the handshake (``initialized`` loads the config).
Their modules pull in pydantic, PyYAML and httpx, which cost more than pygls itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .documents import DocumentStore
from .features import register_features
from .features.status import StatusReporter
from .log import logger, redact
from .protocol import ByteBuddyProtocol

if TYPE_CHECKING:
    from .config import ConfigState
    from .config.settings import Settings
    from .features.autocomplete import Autocomplete
    from .features.endpoints import Endpoints
    from .features.trust import TrustPrompter
    from .inference import InferenceClient
    from .usage.accounting import Accounting
    from .usage.metrics import Metrics
    from .workspace.engine import ContextEngine

# Set to 1 to register bytebuddy/debug/stats (asyncio tasks, in-flight upstream calls).
DEBUG_REQUESTS_ENV = "BYTEBUDDY_DEBUG_REQUESTS"


class ByteBuddyServer(LanguageServer):
    protocol: ByteBuddyProtocol

    def __init__(
        self,
        *,
        config_flag: str | None = None,
        log_file: str | None = None,
        metrics: Metrics | None = None,
        editor_config: bool = True,
    ) -> None:
        super().__init__(
            "bytebuddy-ls",
            __version__,
            protocol_cls=ByteBuddyProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.config_flag = config_flag
        self.log_file = log_file
        # False over TCP: the client may be any local process (see transport).
        self.editor_config = editor_config
        self.status = StatusReporter(self)
        self.documents = DocumentStore()
        self._settings: Settings | None = None
        self._config: ConfigState | None = None
        self._inference: InferenceClient | None = None
        self._autocomplete: Autocomplete | None = None
        self._trust: TrustPrompter | None = None
        self._endpoints: Endpoints | None = None
        self._accounting: Accounting | None = None
        self.metrics = metrics
        self._context_engine: ContextEngine | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._config_listeners: list[Callable[[], None]] = [self._usage_follows_config]

    # -- services, created on first use ------------------------------------------
    # Each is spelt out (``if self._x is None: import; create``): the import inside is
    # what keeps the cold start cheap, and the ``_x`` fields tell whether it exists yet.

    @property
    def settings(self) -> Settings:
        """The editor's settings (``initializationOptions`` and didChangeConfiguration)."""
        if self._settings is None:
            from .config.settings import Settings

            self._settings = Settings()
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    @property
    def config(self) -> ConfigState:
        if self._config is None:
            from .config import ConfigState

            self._config = ConfigState(flag=self.config_flag)
        return self._config

    @property
    def inference(self) -> InferenceClient:
        if self._inference is None:
            from .inference import HostPolicy, InferenceClient

            inference = InferenceClient()

            def follow_config() -> None:
                loaded = self.config.loaded
                inference.set_host_policy(HostPolicy.for_config(loaded) if loaded else HostPolicy())

            follow_config()
            self.on_config_changed(follow_config)
            self.accounting.govern(inference)
            self._inference = inference
        return self._inference

    @property
    def autocomplete(self) -> Autocomplete:
        if self._autocomplete is None:
            from .features.autocomplete import Autocomplete

            autocomplete = Autocomplete(
                self.inference,
                self.config.chain,
                debounce_ms=lambda: self.settings.autocomplete.debounceMs,
                workspace_root=lambda: str(self.config.workspace_root or "") or None,
                on_cache_hit=lambda model: self.accounting.cache_hit(model),
                stopped_by=lambda model: self.accounting.refusal(model, "autocomplete"),
                context=self.context_engine,
            )
            self.on_config_changed(autocomplete.clear_cache)
            self._autocomplete = autocomplete
        return self._autocomplete

    @property
    def trust(self) -> TrustPrompter:
        """Asks the user to trust a workspace config (see ``features.trust``)."""
        if self._trust is None:
            from .features.trust import TrustPrompter

            self._trust = TrustPrompter(self)
        return self._trust

    @property
    def accounting(self) -> Accounting:
        """Usage ledger, cost, budgets, audit and metrics (created with the first config)."""
        if self._accounting is None:
            self._accounting = self._new_accounting()
        return self._accounting

    def _new_accounting(self) -> Accounting:
        from .features.usage import create_accounting

        accounting = create_accounting(self)
        accounting.configure(self._config.loaded if self._config else None)
        return accounting

    def _usage_follows_config(self) -> None:
        # Created with the first config, so budgets show in the status before any request.
        if self._accounting is None:
            self._accounting = self._new_accounting()
        else:
            self._accounting.configure(self.config.loaded)

    def breaker_state(self, name: str) -> str:
        """A model's circuit breaker (closed until the inference client exists)."""
        return str(self._inference.model_health(name)["state"]) if self._inference else "closed"

    def upstream_in_flight(self) -> int:
        return self._inference.in_flight if self._inference else 0

    @property
    def context_engine(self) -> ContextEngine:
        """Workspace context: cross-file snippets, the workspace index, the inspector."""
        if self._context_engine is None:
            from .workspace.engine import ContextEngine

            self._context_engine = ContextEngine(
                self.documents.all, lambda: self.config.workspace_root
            )
        return self._context_engine

    def forget_document(self, uri: str) -> None:
        """Drop per-document state kept outside the document store."""
        if self._autocomplete is not None:
            self._autocomplete.forget(uri)
        if self._context_engine is not None:
            self._context_engine.note_closed(uri)

    @property
    def endpoints(self) -> Endpoints:
        """Inference Endpoints: state, resume prompts, warm-up (``features.endpoints``)."""
        if self._endpoints is None:
            from .features.endpoints import Endpoints

            self._endpoints = Endpoints(self)
        return self._endpoints

    @property
    def has_endpoints(self) -> bool:
        return self._endpoints is not None

    def model_extras(self, name: str) -> dict[str, Any]:
        """Per-model figures (health, shown/accepted, endpoint) for ``bytebuddy/models``."""
        extras: dict[str, Any] = {
            "health": self.inference.model_health(name),
            "stats": {"autocomplete": self.autocomplete.model_stats(name)},
        }
        if self._endpoints is not None and (view := self._endpoints.manager.view(name)):
            extras["endpoint"] = view
        return extras

    # -- plumbing ----------------------------------------------------------------

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        if stdin is None and stdout is None:
            from .transport import serve_stdio  # the strict reader, as `bytebuddy-ls serve`

            serve_stdio(self)
            return
        super().start_io(stdin, stdout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task, keeping a reference so it is not garbage-collected."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def on_config_changed(self, listener: Callable[[], None]) -> None:
        self._config_listeners.append(listener)

    def notify_config_changed(self) -> None:
        for listener in self._config_listeners:
            try:
                listener()
            except Exception:
                logger.exception("config listener failed")

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Malformed input is logged, not shown: a popup per bad message helps no one.
        logger.error(
            "server error (%s): %s", getattr(source, "__name__", source), redact(str(error))
        )

    def debug_stats(self) -> dict[str, int]:
        """Internals for the soak benchmark (bench/soak.py)."""
        autocomplete = self._autocomplete
        return {
            "tasks": len(asyncio.all_tasks()),
            "inFlight": autocomplete.in_flight if autocomplete is not None else 0,
            "documents": len(self.documents),
        }

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._endpoints is not None:
            await self._endpoints.aclose()
        if self._context_engine is not None:
            self._context_engine.stop_index()
        if self._inference is not None:
            await self._inference.aclose()
        if self._accounting is not None:
            await asyncio.to_thread(self._accounting.close)
        if self.metrics is not None:
            self.metrics.close()


def build_server(
    *,
    config_flag: str | None = None,
    log_file: str | None = None,
    metrics: Metrics | None = None,
    editor_config: bool = True,
) -> ByteBuddyServer:
    server = ByteBuddyServer(
        config_flag=config_flag, log_file=log_file, metrics=metrics, editor_config=editor_config
    )
    register_features(server)

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(_params: None) -> None:
        await server.aclose()

    if os.environ.get(DEBUG_REQUESTS_ENV) == "1":
        # Not part of the LSP surface.
        @server.feature("bytebuddy/debug/stats")
        def debug_stats(_params: Any) -> dict[str, int]:
            return server.debug_stats()

    return server
