"""The one place that decides what context a prompt gets, for the prompts themselves and
for the context inspector (so the inspector can never disagree with what is sent).

Autocomplete: ``autocomplete`` (cheap, synchronous, no index needed). Chat and edit:
``retrieve`` (the workspace index; semantic when an embedder is available) and
``file_snippets`` (``@file`` mentions). The index builds in the background
(``start_index``) and follows edits, saves and file events (``note_*``).

Trust: ``remote_embedding_allowed`` is the switch the trust model sets. While it says
no, nothing from this workspace goes to an embedder off the machine (BM25 and a local
embedder still work).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..documents import Document
from ..log import logger
from .crossfile import CrossFileContext, CrossFileResult
from .embedders import Embedder, LocalEmbedder, RemoteEmbedder, local_embedder_missing
from .files import DEFAULT_MAX_FILE_BYTES, FilePolicy
from .index import IndexStatus, WorkspaceIndex
from .paths import display_path, uri_to_path
from .snippets import Snippet, select

if TYPE_CHECKING:
    from ..config.loader import LoadedConfig
    from ..config.schema import ContextConfig, ModelConfig
    from ..config.settings import ContextSettings
    from ..inference import InferenceClient

# Autocomplete spends at most this share of its prompt budget on other files.
AUTOCOMPLETE_CONTEXT_SHARE = 0.25
RETRIEVAL_LIMIT = 12
QUERY_EMBED_TIMEOUT_S = 3.0
# Pause between embedding batches: background work must leave the CPU to completions.
EMBED_PAUSE_S = 0.02
_QUERY_CACHE = 64

ProgressCallback = Callable[[IndexStatus], None]


@dataclass(frozen=True)
class ContextOptions:
    enabled: bool = True
    index: bool = True
    max_files: int = 20_000
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_tokens: int = 2048
    exclude: tuple[str, ...] = ()
    embeddings: str = "auto"

    @classmethod
    def from_config(
        cls, config: ContextConfig | None, settings: ContextSettings | None = None
    ) -> ContextOptions:
        base = cls()
        if config is not None:
            # Field by field (the config's camelCase names to ours), checked by mypy.
            base = cls(
                enabled=config.enabled,
                index=config.index,
                max_files=config.maxFiles,
                max_file_bytes=config.maxFileBytes,
                max_tokens=config.maxTokens,
                exclude=tuple(config.exclude),
                embeddings=config.embeddings,
            )
        if settings is not None:
            if settings.enabled is not None:
                base = _replace(base, enabled=settings.enabled)
            if settings.index is not None:
                base = _replace(base, index=settings.index)
        return base

    @property
    def policy(self) -> FilePolicy:
        return FilePolicy(
            exclude=self.exclude, max_file_bytes=self.max_file_bytes, max_files=self.max_files
        )


def _replace(options: ContextOptions, **changes: Any) -> ContextOptions:
    from dataclasses import replace

    return replace(options, **changes)


@dataclass
class Retrieval:
    """What chat/edit retrieval found for one query."""

    query: str
    snippets: list[Snippet] = field(default_factory=list)
    tokens: int = 0
    reason: str | None = None
    semantic: bool = False


def remote_embedding_allowed(loaded: LoadedConfig | None) -> bool:
    """The trust switch: may workspace text go to a remote embedder? Not while the active
    config is the workspace's own (``<repo>/.bytebuddy/config.yaml``): a repository must
    not be able to send its reader's code to a host it names."""
    from ..config.loader import ConfigSourceKind

    return loaded is not None and loaded.kind != ConfigSourceKind.WORKSPACE


def is_remote_model(model: ModelConfig) -> bool:
    from ..config.tokens import is_loopback_host

    if model.is_local:
        return False
    host = urlsplit(model.effective_api_base).hostname or ""
    return not is_loopback_host(host)


class ContextEngine:
    def __init__(
        self,
        documents: Callable[[], Iterable[Document]],
        root: Callable[[], Path | None],
    ) -> None:
        self._documents = documents
        self._root = root
        self.crossfile = CrossFileContext(documents, root)
        self.options = ContextOptions()
        self.index: WorkspaceIndex | None = None
        self.client: InferenceClient | None = None
        self.embed_chain: Callable[[], list[ModelConfig]] = lambda: []
        # The trust switch: False = never send workspace text to a remote embedder.
        self.remote_embedding_allowed: Callable[[], bool] = lambda: True
        self.on_progress: ProgressCallback | None = None
        self._task: asyncio.Task[None] | None = None
        self._embedder: Embedder | None = None
        self._local: LocalEmbedder | None = None
        self._semantic_note: str | None = None
        self._query_vectors: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        # The server waits this long after start-up before indexing, so the first
        # completions do not compete with the build (the CLI does not wait).
        self.start_delay_s = 0.0
        self._pending: set[Path] = set()
        self._updater: asyncio.Task[None] | None = None

    # ----- configuration ------------------------------------------------------------------

    def configure(self, options: ContextOptions) -> None:
        """New options: a changed file policy rebuilds the index on the next request."""
        changed = options.policy != self.options.policy or options.index != self.options.index
        self.options = options
        if (changed or not options.enabled) and self.index is not None:
            self.stop_index()

    def stop_index(self) -> None:
        if self.index is not None:
            self.index.cancel()
        if self._task is not None:
            self._task.cancel()
        self.index = None
        self._task = None

    # ----- autocomplete -------------------------------------------------------------------

    def autocomplete_budget(self, prompt_budget: int) -> int:
        if not self.options.enabled:
            return 0
        return max(0, min(self.options.max_tokens, int(prompt_budget * AUTOCOMPLETE_CONTEXT_SHARE)))

    def autocomplete(
        self,
        document: Document,
        offset: int,
        budget_tokens: int,
        visible: tuple[int, int] | None = None,
    ) -> CrossFileResult:
        """``crossfile.gather`` (same arguments) when context is on."""
        if not self.options.enabled:
            from .snippets import Selection

            return CrossFileResult(Selection([], 0), 0, "context is off (context.enabled: false)")
        return self.crossfile.gather(document, offset, budget_tokens, visible=visible)

    # ----- the index ----------------------------------------------------------------------

    def index_state(self) -> str:
        if not self.options.enabled or not self.options.index:
            return "off"
        if self.index is None:
            return "not built"
        return self.index.status.state

    def start_index(self) -> WorkspaceIndex | None:
        """Build the index in the background if it is wanted and not there yet."""
        root = self._root()
        if root is None or not self.options.enabled or not self.options.index:
            return None
        if self.index is not None and self.index.root == root.resolve():
            return self.index
        self.stop_index()
        index = WorkspaceIndex(root, self.options.policy, open_text=self._open_text)
        self.index = index
        self._task = asyncio.ensure_future(self._build(index))
        return index

    async def _build(self, index: WorkspaceIndex) -> None:
        try:
            if self.start_delay_s:
                await asyncio.sleep(self.start_delay_s)
            status = await asyncio.to_thread(index.build, self._progress)
            logger.info(
                "workspace index: %d files, %d chunks in %.1f s",
                status.files,
                status.chunks,
                status.seconds or 0.0,
            )
            await self.refresh_embeddings()
        except asyncio.CancelledError:
            index.cancel()
            raise
        except Exception:
            logger.exception("workspace index build failed")
            index.status.state = "off"

    def _progress(self, status: IndexStatus) -> None:
        callback = self.on_progress
        if callback is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None and self._task is not None:
            # Called from the build thread: hand it to the event loop.
            self._task.get_loop().call_soon_threadsafe(callback, status)
        else:
            callback(status)

    async def wait_for_index(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    def _open_text(self, path: Path) -> str | None:
        for document in self._documents():
            if uri_to_path(document.uri) == path:
                return document.text
        return None

    # ----- embeddings ---------------------------------------------------------------------

    def choose_embedder(self) -> tuple[Embedder | None, str]:
        """The embedder to use and a short note for the inspector."""
        mode = self.options.embeddings
        if mode == "off":
            return None, "off (context.embeddings: off)"
        if mode == "auto":
            chain = self.embed_chain()
            if chain and self.client is not None:
                model = chain[0]
                if is_remote_model(model) and not self.remote_embedding_allowed():
                    return None, (
                        f"not used: '{model.name}' is remote and this workspace is not trusted"
                    )
                return RemoteEmbedder(self.client, model), f"model '{model.name}'"
        if mode == "auto":
            # The local embedder costs about 250 MB of memory (onnxruntime and the model)
            # and CPU beside completions: it runs only when asked for.
            return None, (
                "lexical only: no model has the embed role "
                "(context.embeddings: local turns on the local embedder)"
            )
        missing = local_embedder_missing()
        if missing is not None:
            return None, f"lexical only: no model has the embed role, and {missing}"
        if self._local is None:
            self._local = LocalEmbedder()
        return self._local, "local all-MiniLM-L6-v2"

    async def refresh_embeddings(self) -> None:
        """Pick the embedder (config or trust may have changed) and embed what is new."""
        index = self.index
        if index is None:
            return
        embedder, note = self.choose_embedder()
        self._semantic_note = note
        index.status.semantic = note
        if embedder is None:
            index.set_embedder(None)
            return
        if index.embedder is None or index.embedder.key != embedder.key:
            from .vectors import VectorCache

            index.set_embedder(embedder, VectorCache.for_model(embedder.key))
        self._embedder = embedder
        try:
            await index.embed_pending(self._progress, EMBED_PAUSE_S)
        except Exception as exc:  # the lexical index keeps working
            logger.warning("workspace embeddings stopped: %s", exc)
            index.status.semantic = f"{note}; failed: {exc}"

    async def _query_vector(self, query: str) -> list[float] | None:
        index = self.index
        embedder = index.embedder if index is not None else None
        if embedder is None or index is None or index.status.embedded == 0:
            return None
        if embedder.remote and not self.remote_embedding_allowed():
            return None
        key = (embedder.key, query)
        cached = self._query_vectors.get(key)
        if cached is not None:
            return cached
        try:
            vectors = await asyncio.wait_for(embedder.embed([query]), QUERY_EMBED_TIMEOUT_S)
        except Exception as exc:
            logger.info("query embedding failed (lexical search only): %s", exc)
            return None
        self._query_vectors[key] = vectors[0]
        while len(self._query_vectors) > _QUERY_CACHE:
            self._query_vectors.popitem(last=False)
        return vectors[0]

    # ----- retrieval for chat and edit ----------------------------------------------------

    async def retrieve(
        self, query: str, budget_tokens: int | None = None, *, limit: int = RETRIEVAL_LIMIT
    ) -> Retrieval:
        budget = self.options.max_tokens if budget_tokens is None else budget_tokens
        budget = min(budget, self.options.max_tokens)
        result = Retrieval(query)
        if not self.options.enabled:
            result.reason = "context is off (context.enabled: false)"
            return result
        if not self.options.index:
            result.reason = "the workspace index is off (context.index: false)"
            return result
        index = self.index or self.start_index()
        if index is None:
            result.reason = "no workspace folder: nothing to index"
            return result
        if index.status.state != "ready" and index.status.files == 0:
            result.reason = (
                f"index not built yet ({index.status.state}, {index.status.walked} files seen)"
            )
            return result
        vector = await self._query_vector(query)
        result.semantic = vector is not None
        hits = await asyncio.to_thread(index.search, query, limit, vector)
        root = index.root
        candidates = [
            Snippet(
                "retrieved",
                display_path(hit.path, root),
                hit.path.as_uri(),
                hit.start_line,
                hit.end_line,
                hit.text,
                hit.score,
            )
            for hit in hits
        ]
        selection = select(candidates, budget)
        result.snippets, result.tokens = selection.snippets, selection.tokens
        if not candidates:
            building = index.status.state == "building"
            result.reason = "nothing relevant: no indexed chunk matches the question" + (
                f" (index still building: {index.status.files} files so far)" if building else ""
            )
        elif not selection.snippets:
            result.reason = "budget full: no retrieved chunk fits the context budget"
        return result

    def file_snippets(
        self, names: list[str], budget_tokens: int
    ) -> tuple[list[Snippet], list[str]]:
        """``@file`` mentions: each named file (workspace-relative or absolute), cut to
        what the budget allows. Returns the snippets and the names not found."""
        root = self._root()
        snippets: list[Snippet] = []
        missing: list[str] = []
        remaining = budget_tokens
        for name in names:
            path = Path(name)
            if not path.is_absolute() and root is not None:
                path = root / name
            path = path.resolve()
            if root is not None and root.resolve() not in path.parents:
                missing.append(name)  # only files of this workspace
                continue
            from .files import read_text_file

            text = self._open_text(path)
            if text is None:
                text = read_text_file(path, self.options.max_file_bytes)
            if text is None:
                missing.append(name)
                continue
            lines = text.split("\n")
            kept: list[str] = []
            used = 0
            for line in lines:
                cost = len(line.encode("utf-8")) // 3 + 1
                if used + cost > remaining - 8:
                    break
                kept.append(line)
                used += cost
            if not kept:
                missing.append(name)
                continue
            snippet = Snippet(
                "file", display_path(path, root), path.as_uri(), 0, len(kept), "\n".join(kept), 1.0
            )
            remaining -= snippet.tokens
            snippets.append(snippet)
        return snippets, missing

    # ----- following the workspace --------------------------------------------------------

    def note_change(self, uri: str, line: int) -> None:
        self.crossfile.recent.record(uri, line)

    def note_saved(self, uri: str) -> None:
        path = uri_to_path(uri)
        if path is not None and self.index is not None:
            self._schedule_update(path)

    def note_closed(self, uri: str) -> None:
        self.crossfile.forget(uri)
        self.note_saved(uri)  # the disk version is what stays indexed

    def note_file_event(self, uri: str, deleted: bool) -> None:
        path = uri_to_path(uri)
        if path is None or self.index is None:
            return
        if deleted:
            self.index.remove(path)
        else:
            self._schedule_update(path)

    def _schedule_update(self, path: Path) -> None:
        """Queue a file for re-indexing. One worker drains the queue, so a burst of
        events (a branch switch) costs one pass and one embedding refresh, not one each."""
        if self.index is None:
            return
        self._pending.add(path)
        if self._updater is None or self._updater.done():
            self._updater = asyncio.ensure_future(self._drain_updates())
            self._updater.add_done_callback(_log_failure)

    async def _drain_updates(self) -> None:
        while self._pending and self.index is not None:
            index = self.index
            paths, self._pending = self._pending, set()

            def update_all(index: WorkspaceIndex = index, paths: set[Path] = paths) -> None:
                for path in paths:
                    index.update_if_indexable(path)

            await asyncio.to_thread(update_all)
            if index.embedder is not None and self.index is index:
                await self.refresh_embeddings()

    def status_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": self.index_state()}
        if self.index is not None:
            data.update(self.index.status.to_json())
            data["state"] = self.index_state()
            data["root"] = str(self.index.root)
        return data


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("workspace index update failed: %s", task.exception())


_MENTION = re.compile(
    r"(?<![\w@])@(workspace|codebase)\b|(?<![\w@])@file:(\S+)|(?<![\w@])@(\S+\.\w+)"
)


@dataclass(frozen=True)
class Mentions:
    text: str  # the message without the mentions
    workspace: bool
    files: tuple[str, ...]


def parse_mentions(message: str) -> Mentions:
    """``@workspace`` (alias ``@codebase``), ``@file:path`` and ``@path/with.ext``."""
    workspace = False
    files: list[str] = []

    def take(match: re.Match[str]) -> str:
        nonlocal workspace
        if match.group(1):
            workspace = True
        else:
            name = (match.group(2) or match.group(3)).rstrip(".,;:!?)")
            files.append(name)
        return ""

    text = _MENTION.sub(take, message)
    return Mentions(re.sub(r"[ \t]{2,}", " ", text).strip(), workspace, tuple(dict.fromkeys(files)))


@dataclass
class MentionContext:
    """The workspace code a chat message asked for with ``@workspace``/``@file``."""

    engine: ContextEngine
    mentions: Mentions
    retrieval: Retrieval | None = None
    files: list[Snippet] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    async def gather(self, budget_tokens: int) -> list[tuple[str, str]]:
        budget = min(budget_tokens, self.engine.options.max_tokens)
        self.files, self.missing = self.engine.file_snippets(list(self.mentions.files), budget)
        used = sum(s.tokens for s in self.files)
        snippets = list(self.files)
        if self.mentions.workspace:
            query = self.mentions.text or " ".join(self.mentions.files)
            self.retrieval = await self.engine.retrieve(query, max(budget - used, 0))
            snippets += self.retrieval.snippets
        return [(_label(s), s.text) for s in snippets]

    def summary(self) -> dict[str, Any]:
        """What was added to the prompt (without the code), for the editor to show."""
        snippets = [*self.files, *(self.retrieval.snippets if self.retrieval else [])]
        reason = None
        if self.retrieval is not None and not self.retrieval.snippets:
            reason = self.retrieval.reason
        if self.missing:
            names = ", ".join(self.missing)
            reason = f"{reason + '; ' if reason else ''}not found in the workspace: {names}"
        return {
            "snippets": [{k: v for k, v in s.to_json().items() if k != "text"} for s in snippets],
            "reason": reason,
        }


def _label(snippet: Snippet) -> str:
    if snippet.kind == "file":
        return snippet.path
    return f"{snippet.path} (lines {snippet.start_line + 1}-{snippet.end_line})"


def workspace_references(
    engine: ContextEngine, conversation: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], MentionContext | None]:
    """The conversation with the mentions taken out of the latest user message, and what
    they ask for (None when the message mentions nothing)."""
    latest = max((i for i, (role, _) in enumerate(conversation) if role == "user"), default=-1)
    if latest < 0:
        return conversation, None
    mentions = parse_mentions(conversation[latest][1])
    if not mentions.workspace and not mentions.files:
        return conversation, None
    text = mentions.text or "Explain this code."
    updated = [*conversation[:latest], ("user", text), *conversation[latest + 1 :]]
    return updated, MentionContext(engine, mentions)
