"""Okapi BM25 over chunks, updated incrementally.

Postings are compact: one ``array('Q')`` per term whose entries pack the chunk id and
its term frequency (``id << 8 | min(tf, 255)``), about 8 bytes a posting instead of the
~100 of a dict entry — a 10,000-file repository stays in tens of megabytes. Removing a
chunk marks it dead; the postings are compacted once dead entries pass a quarter of
them, so an edit costs the file's own size, not the index's.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter
from collections.abc import Iterable

K1 = 1.2
B = 0.75
_TF_BITS = 8
_TF_MASK = (1 << _TF_BITS) - 1
# Terms in more than this share of the chunks say little and cost the most to score.
COMMON_TERM_SHARE = 0.3


class BM25Index:
    def __init__(self) -> None:
        self._postings: dict[str, array[int]] = {}
        self._lengths = array("I")  # terms per chunk, by chunk id
        self._dead: set[int] = set()
        self._df: Counter[str] = Counter()
        self._live_length = 0
        self._live_count = 0
        self._removed: set[int] = set()
        self._dead_postings = 0
        self._total_postings = 0

    def __len__(self) -> int:
        return self._live_count

    def add(self, chunk_terms: Iterable[str]) -> int:
        """Index one chunk's terms; returns its id."""
        chunk_id = len(self._lengths)
        counts = Counter(chunk_terms)
        length = sum(counts.values())
        self._lengths.append(length)
        self._live_length += length
        self._live_count += 1
        for term, tf in counts.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = array("Q")
            postings.append(chunk_id << _TF_BITS | min(tf, _TF_MASK))
            self._df[term] += 1
        self._total_postings += len(counts)
        return chunk_id

    def remove(self, chunk_id: int, chunk_terms: Iterable[str]) -> None:
        """Forget a chunk (its terms are needed to keep document frequencies right)."""
        if chunk_id in self._removed or chunk_id >= len(self._lengths):
            return
        self._removed.add(chunk_id)
        self._dead.add(chunk_id)
        self._live_count -= 1
        self._live_length -= self._lengths[chunk_id]
        unique = set(chunk_terms)
        for term in unique:
            self._df[term] -= 1
            if self._df[term] <= 0:
                del self._df[term]
        self._dead_postings += len(unique)
        if self._dead_postings * 4 > self._total_postings:
            self._compact()

    def _compact(self) -> None:
        dead = self._dead
        for term in list(self._postings):
            kept = array("Q", (p for p in self._postings[term] if p >> _TF_BITS not in dead))
            if kept:
                self._postings[term] = kept
            else:
                del self._postings[term]
        self._total_postings -= self._dead_postings
        self._dead_postings = 0
        # Ids are never reused: a compacted id keeps its length slot, but no posting
        # points at it any more, so it need not stay in the dead set.
        self._dead = set()

    def search(self, query_terms: Iterable[str], limit: int = 10) -> list[tuple[int, float]]:
        """The ``limit`` best (chunk id, score) pairs, best first."""
        live = len(self)
        if live == 0:
            return []
        average = self._live_length / live
        lengths = self._lengths
        scores: dict[int, float] = {}
        weights = Counter(query_terms)
        for term, weight in weights.items():
            postings = self._postings.get(term)
            df = self._df.get(term, 0)
            if postings is None or df == 0 or (df > COMMON_TERM_SHARE * live and live > 50):
                continue
            idf = math.log(1 + (live - df + 0.5) / (df + 0.5)) * weight
            for packed in postings:
                chunk_id = packed >> _TF_BITS
                tf = packed & _TF_MASK
                denominator = tf + K1 * (1 - B + B * lengths[chunk_id] / average)
                scores[chunk_id] = scores.get(chunk_id, 0.0) + idf * tf * (K1 + 1) / denominator
        for chunk_id in self._dead:
            scores.pop(chunk_id, None)
        return heapq.nlargest(limit, scores.items(), key=lambda item: item[1])
