"""The workspace index: every indexable file cut into chunks, searchable by BM25 and, when
an embedder is available, by meaning.

Building walks the workspace once (``files.walk``: .gitignore, excludes, caps) in a
worker thread, a file at a time under a lock, so searches answer at any moment with what
is indexed so far. ``update``/``remove`` re-index one file (after a save, a change on
disk or a delete) and cost that file's size. Chunk texts are not kept in memory: a hit
is re-read from disk (or from the open document) and checked against the hash it was
indexed with, so a stale hit is dropped rather than shown wrong.

Semantic search (``embed_pending``) runs after the lexical build, in batches, looking
every chunk up in the persistent vector cache first. Results of both searches are
fused by reciprocal rank.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .bm25 import BM25Index
from .embedders import Embedder
from .files import FilePolicy, WalkReport, is_ignored, read_text_file, walk
from .text import chunk_lines, terms
from .vectors import VectorCache, VectorIndex, content_key

IndexState = Literal["idle", "building", "ready", "off"]
RRF_K = 60
# Below this cosine a semantic neighbour is not evidence of relevance (all-MiniLM-L6-v2
# puts unrelated code at 0.0-0.2): without it every query would "find" something.
SEMANTIC_MIN_SCORE = 0.3
# Chunk text sent to an embedder at most (characters): models truncate anyway.
EMBED_TEXT_CHARS = 2000


@dataclass
class _File:
    digest: bytes
    stamp: tuple[int, int]
    chunk_ids: list[int]


@dataclass(frozen=True)
class Hit:
    path: Path
    start_line: int
    end_line: int
    text: str
    score: float
    lexical_rank: int | None = None
    semantic_rank: int | None = None


@dataclass
class IndexStatus:
    state: IndexState
    files: int = 0
    chunks: int = 0
    walked: int = 0
    skipped: WalkReport = field(default_factory=WalkReport)
    embedded: int = 0
    semantic: str | None = None  # the embedder's name, or why there is none
    seconds: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "files": self.files,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "skipped": {
                "ignored": self.skipped.ignored,
                "tooLarge": self.skipped.too_large,
                "binary": self.skipped.binary,
                "overLimit": self.skipped.over_limit,
            },
            "semantic": self.semantic,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class WorkspaceIndex:
    def __init__(
        self,
        root: Path,
        policy: FilePolicy | None = None,
        *,
        open_text: Callable[[Path], str | None] = lambda _path: None,
    ) -> None:
        self.root = root.resolve()
        self.policy = policy or FilePolicy()
        self._open_text = open_text  # an open document's text wins over the disk
        self._lock = threading.RLock()
        self._bm25 = BM25Index()
        self._vectors = VectorIndex()
        self._files: dict[Path, _File] = {}
        # Per chunk id: file, lines, content hash and terms (to un-index it).
        self._chunk_file: list[Path | None] = []
        self._chunk_lines = array("I")
        self._chunk_digest: list[bytes] = []
        self._chunk_terms: list[tuple[str, ...]] = []
        self._vocabulary: dict[str, str] = {}
        self.status = IndexStatus("idle")
        self._cancelled = False
        self.embedder: Embedder | None = None
        self._cache: VectorCache | None = None

    # ----- building ---------------------------------------------------------------------

    def cancel(self) -> None:
        self._cancelled = True

    def build(self, on_progress: Callable[[IndexStatus], None] | None = None) -> IndexStatus:
        """Index the whole workspace (blocking: run it in a thread)."""
        started = time.monotonic()
        report = WalkReport()
        self.status = IndexStatus("building", skipped=report, semantic=self.status.semantic)
        last_report = started
        seen: set[Path] = set()
        for path in walk(self.root, self.policy, report):
            if self._cancelled:
                break
            seen.add(path)
            self.status.walked += 1
            self.update(path)
            now = time.monotonic()
            if on_progress is not None and now - last_report > 0.2:
                last_report = now
                on_progress(self.status)
        with self._lock:
            for gone in [p for p in self._files if p not in seen]:
                self._remove_locked(gone)
        self.status.state = "off" if self._cancelled else "ready"
        self.status.seconds = time.monotonic() - started
        if on_progress is not None:
            on_progress(self.status)
        return self.status

    def update(self, path: Path) -> bool:
        """(Re-)index one file; True when its content changed. A file that may not be
        indexed (ignored, too large, binary, gone) is removed instead."""
        path = path.resolve() if not path.is_absolute() else path
        text = self._open_text(path)
        if text is None:
            try:
                stat = path.stat()
            except OSError:
                self.remove(path)
                return False
            stamp = (stat.st_mtime_ns, stat.st_size)
            known = self._files.get(path)
            if known is not None and known.stamp == stamp:
                return False
            text = read_text_file(path, self.policy.max_file_bytes)
            if text is None:
                self.status.skipped.binary += 1  # or grown past the cap since the walk
                self.remove(path)
                return False
        else:
            stamp = (0, len(text))
        digest = _digest(text)
        known = self._files.get(path)
        if known is not None and known.digest == digest:
            known.stamp = stamp
            return False
        chunks = chunk_lines(text)
        prepared = [(chunk, self._intern(terms(chunk.text))) for chunk in chunks]
        with self._lock:
            self._remove_locked(path)
            ids: list[int] = []
            for chunk, chunk_terms in prepared:
                chunk_id = self._bm25.add(chunk_terms)
                self._chunk_file.append(path)
                self._chunk_lines.extend((chunk.start_line, chunk.end_line))
                self._chunk_digest.append(_digest(chunk.text))
                self._chunk_terms.append(tuple(set(chunk_terms)))
                ids.append(chunk_id)
            self._files[path] = _File(digest, stamp, ids)
            self.status.files = len(self._files)
            self.status.chunks = len(self._bm25)
        return True

    def update_if_indexable(self, path: Path) -> None:
        """After a change on disk: index the file, or drop it if it is now excluded."""
        if is_ignored(self.root, path, self.policy):
            self.remove(path)
        else:
            self.update(path)

    def remove(self, path: Path) -> None:
        with self._lock:
            self._remove_locked(path)

    def _remove_locked(self, path: Path) -> None:
        known = self._files.pop(path, None)
        if known is None:
            return
        for chunk_id in known.chunk_ids:
            self._bm25.remove(chunk_id, self._chunk_terms[chunk_id])
            self._vectors.remove(chunk_id)
            self._chunk_file[chunk_id] = None
            self._chunk_terms[chunk_id] = ()
        self.status.files = len(self._files)
        self.status.chunks = len(self._bm25)

    def _intern(self, words: list[str]) -> list[str]:
        vocabulary = self._vocabulary
        return [vocabulary.setdefault(w, w) for w in words]

    # ----- semantic -----------------------------------------------------------------------

    def set_embedder(self, embedder: Embedder | None, cache: VectorCache | None = None) -> None:
        with self._lock:
            if embedder is None or self.embedder is None or embedder.key != self.embedder.key:
                self._vectors = VectorIndex()
            self.embedder = embedder
            self._cache = cache if embedder is not None else None
            self.status.embedded = len(self._vectors)

    def pending_embeddings(self, limit: int) -> list[tuple[int, str]]:
        """Chunks that have no vector yet (id, text), at most ``limit``."""
        out: list[tuple[int, str]] = []
        with self._lock:
            for path, known in self._files.items():
                missing = [c for c in known.chunk_ids if c not in self._vectors]
                if not missing:
                    continue
                text = self._text_of(path)
                if text is None:
                    continue
                lines = text.split("\n")
                for chunk_id in missing:
                    start, end = (
                        self._chunk_lines[2 * chunk_id],
                        self._chunk_lines[2 * chunk_id + 1],
                    )
                    out.append((chunk_id, "\n".join(lines[start:end])[:EMBED_TEXT_CHARS]))
                    if len(out) >= limit:
                        return out
        return out

    async def embed_pending(
        self, on_progress: Callable[[IndexStatus], None] | None = None, pause_s: float = 0.0
    ) -> int:
        """Give every chunk a vector (cache first, then the embedder); returns how many
        were computed (not found in the cache)."""
        embedder, cache = self.embedder, self._cache
        if embedder is None:
            return 0
        computed = 0
        while True:
            batch = self.pending_embeddings(256)
            if not batch or self.embedder is not embedder:
                break
            keys = [content_key(embedder.key, text) for _, text in batch]
            cached = cache.get_many(keys) if cache is not None else {}
            todo = [
                (cid, text, key)
                for (cid, text), key in zip(batch, keys, strict=True)
                if key not in cached
            ]
            self._store_vectors(
                (cid, cached[key])
                for (cid, _), key in zip(batch, keys, strict=True)
                if key in cached
            )
            for start in range(0, len(todo), embedder.batch_size):
                part = todo[start : start + embedder.batch_size]
                vectors = await embedder.embed([text for _, text, _ in part])
                if cache is not None:
                    cache.put_many(
                        (key, vector) for (_, _, key), vector in zip(part, vectors, strict=True)
                    )
                self._store_vectors(
                    (cid, vector) for (cid, _, _), vector in zip(part, vectors, strict=True)
                )
                computed += len(part)
                self.status.embedded = len(self._vectors)
                if pause_s:
                    await asyncio.sleep(pause_s)
                if on_progress is not None:
                    on_progress(self.status)
            self.status.embedded = len(self._vectors)
        return computed

    def _store_vectors(self, vectors: Iterable[tuple[int, Iterable[float]]]) -> None:
        """Keep each chunk's vector, unless the chunk was dropped (its file changed or went
        away) while the vector was being computed."""
        with self._lock:
            for cid, vector in vectors:
                if self._chunk_file[cid] is not None:
                    self._vectors.set(cid, vector)

    # ----- search -------------------------------------------------------------------------

    def search(
        self, query: str, limit: int = 10, query_vector: list[float] | None = None
    ) -> list[Hit]:
        """The best chunks for ``query``: BM25, fused with vector similarity when
        ``query_vector`` is given and vectors exist. Hits whose file changed since it
        was indexed are re-indexed and left out."""
        query_terms = terms(query)
        with self._lock:
            lexical = self._bm25.search(query_terms, limit * 3) if query_terms else []
            semantic = [
                (cid, score)
                for cid, score in (
                    self._vectors.search(query_vector, limit * 3)
                    if query_vector is not None and len(self._vectors)
                    else []
                )
                if score >= SEMANTIC_MIN_SCORE
            ]
            fused: dict[int, float] = {}
            lexical_rank = {cid: rank for rank, (cid, _) in enumerate(lexical)}
            semantic_rank = {cid: rank for rank, (cid, _) in enumerate(semantic)}
            for ranks in (lexical_rank, semantic_rank):
                for cid, rank in ranks.items():
                    fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
            order = sorted(fused, key=lambda cid: -fused[cid])
            located = [
                (
                    cid,
                    self._chunk_file[cid],
                    self._chunk_lines[2 * cid],
                    self._chunk_lines[2 * cid + 1],
                )
                for cid in order
            ]
        hits: list[Hit] = []
        texts: dict[Path, list[str] | None] = {}
        stale: set[Path] = set()
        for cid, path, start, end in located:
            if path is None or path in stale:
                continue
            if path not in texts:
                text = self._text_of(path)
                texts[path] = text.split("\n") if text is not None else None
            lines = texts[path]
            if lines is None:
                continue
            chunk_text = "\n".join(lines[start:end])
            if _digest(chunk_text) != self._chunk_digest[cid]:
                stale.add(path)
                continue
            hits.append(
                Hit(
                    path,
                    start,
                    end,
                    chunk_text,
                    fused[cid],
                    lexical_rank.get(cid),
                    semantic_rank.get(cid),
                )
            )
            if len(hits) >= limit:
                break
        for path in stale:
            self.update(path)
        return hits

    def _text_of(self, path: Path) -> str | None:
        text = self._open_text(path)
        if text is not None:
            return text
        return read_text_file(path, self.policy.max_file_bytes)

    def files(self) -> list[Path]:
        with self._lock:
            return list(self._files)

    def __contains__(self, path: Path) -> bool:
        return path in self._files
