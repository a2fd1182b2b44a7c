"""A snippet of context and how a set of them is ranked, deduplicated and cut to budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..prompting.tokens import estimate_tokens

SnippetKind = Literal["definition", "recent-edit", "similar", "retrieved", "file"]


@dataclass(frozen=True)
class Snippet:
    """Lines ``start_line``..``end_line`` (0-based, end exclusive) of ``path``."""

    kind: SnippetKind
    path: str  # as shown to the model: workspace-relative when possible
    uri: str
    start_line: int
    end_line: int
    text: str
    score: float
    symbol: str | None = None
    tokens: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.tokens:
            # Path line and separators count too.
            object.__setattr__(self, "tokens", estimate_tokens(self.text) + 8)

    def to_json(self) -> dict[str, Any]:
        """The inspector's snippet (camelCase), spelt out: it is a wire format."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "path": self.path,
            "uri": self.uri,
            "startLine": self.start_line,
            "endLine": self.end_line,
            "score": round(self.score, 4),
            "tokens": self.tokens,
            "text": self.text,
        }
        if self.symbol:
            data["symbol"] = self.symbol
        return data


@dataclass
class Selection:
    snippets: list[Snippet]
    tokens: int
    dropped_for_budget: int = 0
    duplicates: int = 0


def select(candidates: list[Snippet], budget_tokens: int, max_snippets: int = 50) -> Selection:
    """The best snippets that fit ``budget_tokens``: by score, skipping repeats (same
    text, or lines another kept snippet of the same file already covers)."""
    kept: list[Snippet] = []
    used = 0
    dropped = duplicates = 0
    seen_text: set[str] = set()
    for snippet in sorted(candidates, key=lambda s: -s.score):
        key = snippet.text.strip()
        if not key or key in seen_text or any(_covers(k, snippet) for k in kept):
            duplicates += 1
            continue
        if used + snippet.tokens > budget_tokens or len(kept) >= max_snippets:
            dropped += 1
            continue
        kept.append(snippet)
        seen_text.add(key)
        used += snippet.tokens
    return Selection(kept, used, dropped, duplicates)


def _covers(kept: Snippet, other: Snippet) -> bool:
    if kept.uri != other.uri:
        return False
    overlap = min(kept.end_line, other.end_line) - max(kept.start_line, other.start_line)
    return overlap > 0 and overlap * 2 >= other.end_line - other.start_line
