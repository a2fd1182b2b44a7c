"""Embedding vectors: a persistent cache keyed by content hash, and nearest-neighbour
search over the vectors of the current index.

The cache is one SQLite file per embedding model in the user's cache directory
(``$XDG_CACHE_HOME/bytebuddy-ls/embeddings``, default ``~/.cache``): key = BLAKE2b of the
model's identity and the chunk's text, value = float32 bytes. A chunk whose text did
not change is never embedded again, across restarts and across workspaces.

Search uses numpy when it is installed (one matrix product) and plain Python otherwise
(fine for a few thousand chunks).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bytebuddy-ls"


def content_key(model_key: str, text: str) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(model_key.encode("utf-8"))
    digest.update(b"\0")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


class VectorCache:
    """SQLite table key → float32 vector, safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        import sqlite3  # only when semantic search is in use

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)"
        )

    @classmethod
    def for_model(cls, model_key: str, directory: Path | None = None) -> VectorCache:
        name = hashlib.blake2b(model_key.encode("utf-8"), digest_size=8).hexdigest()
        return cls((directory or cache_dir() / "embeddings") / f"{name}.sqlite")

    def get_many(self, keys: list[bytes]) -> dict[bytes, array[float]]:
        found: dict[bytes, array[float]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", batch
                ).fetchall()
                for key, blob in rows:
                    vector = array("f")
                    vector.frombytes(blob)
                    found[bytes(key)] = vector
        return found

    def put_many(self, items: Iterable[tuple[bytes, list[float]]]) -> None:
        rows = [(key, array("f", vector).tobytes()) for key, vector in items]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _normalised(vector: Iterable[float]) -> array[float]:
    values = array("f", vector)
    norm = math.sqrt(sum(x * x for x in values)) or 1.0
    return array("f", (x / norm for x in values))


class VectorIndex:
    """Vectors by chunk id; cosine similarity search."""

    def __init__(self) -> None:
        self._vectors: dict[int, array[float]] = {}
        self._matrix: Any = None
        self._ids: list[int] = []

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, chunk_id: int) -> bool:
        return chunk_id in self._vectors

    def set(self, chunk_id: int, vector: Iterable[float]) -> None:
        self._vectors[chunk_id] = _normalised(vector)
        self._matrix = None

    def remove(self, chunk_id: int) -> None:
        if self._vectors.pop(chunk_id, None) is not None:
            self._matrix = None

    def search(self, query: Iterable[float], limit: int = 10) -> list[tuple[int, float]]:
        if not self._vectors:
            return []
        q = _normalised(query)
        try:
            import numpy as np
        except ImportError:
            scored = [
                (cid, sum(a * b for a, b in zip(q, v, strict=True)))
                for cid, v in self._vectors.items()
                if len(v) == len(q)
            ]
            scored.sort(key=lambda item: -item[1])
            return scored[:limit]
        if self._matrix is None:
            self._ids = [cid for cid, v in self._vectors.items() if len(v) == len(q)]
            self._matrix = np.array(
                [self._vectors[cid] for cid in self._ids], dtype=np.float32
            ).reshape(len(self._ids), len(q))
        if self._matrix.shape[1] != len(q) or not self._ids:
            return []
        scores = self._matrix @ np.frombuffer(q.tobytes(), dtype=np.float32)
        count = min(limit, len(self._ids))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top])]
        return [(self._ids[i], float(scores[i])) for i in top]
