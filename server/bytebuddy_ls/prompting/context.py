"""The autocomplete context window: which part of the document goes into the prompt.

``cut_context`` looks only at the text the prompt can hold: it walks outwards from the
cursor line by line with bounded ``str.rfind``/``str.find`` calls (each search window is
at most the remaining budget), so the work is proportional to the prompt budget, never
to the document size. A 5 MB document costs the same as a 5 KB one. The document is
never split, copied or encoded as a whole.

Budgets are in estimated tokens (see ``tokens``); whole lines are kept, except the
cursor line itself, which is cut mid-line when it alone exceeds its share (minified
files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .tokens import tokens_to_bytes, utf8_length

# Cap on the prompt when the server's limits allow more: a larger prompt costs latency
# on every keystroke for little gain in completion quality.
DEFAULT_MAX_PROMPT_TOKENS = 2048
# Room for FIM sentinel tokens and a file header.
PROMPT_OVERHEAD_TOKENS = 32
MIN_PROMPT_TOKENS = 64


def prompt_token_budget(
    *,
    max_tokens: int,
    context_length: int | None = None,
    max_input_tokens: int | None = None,
    max_total_tokens: int | None = None,
    cap: int = DEFAULT_MAX_PROMPT_TOKENS,
    safety: float = 0.05,
) -> int:
    """Tokens available for prefix + suffix.

    ``context_length`` is ``defaultCompletionOptions.contextLength``; ``max_input_tokens``
    and ``max_total_tokens`` are the server's limits when known (TGI ``/info``). The
    result leaves room for ``max_tokens`` new tokens, the template's own tokens and a
    ``safety`` share, and never goes below ``MIN_PROMPT_TOKENS``.
    """
    limits = [cap]
    if context_length:
        limits.append(context_length - max_tokens)
    if max_total_tokens:
        limits.append(max_total_tokens - max_tokens)
    if max_input_tokens:
        limits.append(max_input_tokens)
    budget = min(limits)
    budget -= PROMPT_OVERHEAD_TOKENS + int(max(budget, 0) * safety)
    return max(budget, MIN_PROMPT_TOKENS)


@dataclass(frozen=True)
class ContextWindow:
    """The prompt's view of the document around the cursor.

    ``prefix == text[prefix_start_offset:offset]`` and
    ``suffix == text[offset:suffix_end_offset]`` (offsets in code points, as Python
    indexes ``str``).
    """

    prefix: str
    suffix: str
    prefix_start_offset: int
    suffix_end_offset: int
    truncated_prefix: bool
    truncated_suffix: bool


def cut_context(
    text: str,
    offset: int,
    *,
    max_prompt_tokens: int,
    prefix_share: float = 0.7,
    max_suffix_tokens: int | None = None,
    stable_start: bool = False,
) -> ContextWindow:
    """Cut the prefix and suffix around ``offset`` to fit ``max_prompt_tokens``.

    The prefix gets ``prefix_share`` of the budget and the suffix the rest (at most
    ``max_suffix_tokens``); a share the one side cannot use (start or end of the file)
    goes to the other side.

    ``stable_start``: the prefix starts at the first line at or after a multiple of
    an eighth of its budget, instead of as far back as the budget allows. While the user
    types, the start then stays put for that many bytes of typing, so consecutive
    prompts share their beginning and a model server that keeps its KV cache (llama.cpp)
    evaluates only what changed. It costs at most an eighth of the prefix.
    """
    offset = min(max(offset, 0), len(text))
    total = tokens_to_bytes(max_prompt_tokens)
    prefix_budget = int(total * min(max(prefix_share, 0.0), 1.0))
    suffix_cap = tokens_to_bytes(max_suffix_tokens) if max_suffix_tokens is not None else total
    suffix_budget = min(total - prefix_budget, suffix_cap)

    start, prefix_used = _scan_back(text, offset, prefix_budget)
    spare_for_suffix = prefix_budget - prefix_used if start == 0 else 0
    end, suffix_used = _scan_forward(
        text, offset, min(suffix_budget + spare_for_suffix, suffix_cap)
    )
    if end == len(text) and start > 0 and suffix_used < suffix_budget:
        start, _ = _scan_back(text, offset, prefix_budget + suffix_budget - suffix_used)
    if stable_start and start > 0:
        start = _anchored(text, start, offset, max(256, prefix_budget // 8))
    return ContextWindow(
        prefix=text[start:offset],
        suffix=text[offset:end],
        prefix_start_offset=start,
        suffix_end_offset=end,
        truncated_prefix=start > 0,
        truncated_suffix=end < len(text),
    )


def _anchored(text: str, start: int, offset: int, step: int) -> int:
    """The first line start at or after the multiple of ``step`` at or after ``start``
    (``start`` itself when the cursor line begins before it)."""
    anchor = -(-start // step) * step
    if anchor >= offset:
        return start
    newline = text.find("\n", anchor - 1, offset)
    return newline + 1 if newline >= 0 else start


def _scan_back(text: str, offset: int, budget: int) -> tuple[int, int]:
    """Start of the longest run of whole lines before ``offset`` within ``budget`` bytes.

    The cursor line's text before the cursor is always included (cut from the left if it
    alone is too long). Returns (start offset, bytes used).
    """
    # The cursor line's start is found like the previous line's start of a line
    # beginning just after the cursor.
    line_start = _previous_line_start(text, offset + 1, budget)
    if line_start is None or utf8_length(text[line_start:offset]) > budget:
        low = max(0, offset - budget) if line_start is None else line_start
        start = _keep_last_bytes(text, low, offset, budget)
        return start, utf8_length(text[start:offset])
    used = utf8_length(text[line_start:offset])
    return _take_whole_lines(text, line_start, used, budget, _previous_line_start)


def _scan_forward(text: str, offset: int, budget: int) -> tuple[int, int]:
    """End of the longest run of whole lines after ``offset`` within ``budget`` bytes.

    The rest of the cursor line is always included (cut on the right if it alone is too
    long). Returns (end offset, bytes used).
    """
    size = len(text)
    line_end = _next_line_end(text, offset, budget) if offset < size else size
    if line_end is None or utf8_length(text[offset:line_end]) > budget:
        high = min(size, offset + budget) if line_end is None else line_end
        end = _keep_first_bytes(text, offset, high, budget)
        return end, utf8_length(text[offset:end])
    used = utf8_length(text[offset:line_end])
    return _take_whole_lines(text, line_end, used, budget, _next_line_end)


# (text, position, room) -> the next line boundary within room, or None.
Boundary = Callable[[str, int, int], int | None]


def _take_whole_lines(
    text: str, position: int, used: int, budget: int, next_boundary: Boundary
) -> tuple[int, int]:
    """Move ``position`` line by line (``next_boundary``) while the lines fit ``budget``
    bytes; returns the final position and the bytes used."""
    while (boundary := next_boundary(text, position, budget - used)) is not None:
        low, high = min(position, boundary), max(position, boundary)
        cost = utf8_length(text[low:high])
        if cost > budget - used:
            break
        used += cost
        position = boundary
    return position, used


def _previous_line_start(text: str, position: int, room: int) -> int | None:
    """Start of the line ending just before ``position`` (a line start), or None when
    there is none or it is longer than ``room`` characters."""
    if position <= 0:
        return None
    low = max(0, position - 1 - room)
    newline = text.rfind("\n", low, position - 1)
    if newline < 0 and low > 0:
        return None
    return newline + 1


def _next_line_end(text: str, position: int, room: int) -> int | None:
    """End (after its newline) of the line starting at ``position``, or None when there
    is none or it is longer than ``room`` characters."""
    size = len(text)
    if position >= size:
        return None
    high = min(size, position + room)
    newline = text.find("\n", position, high)
    if newline < 0:
        return size if high >= size else None
    return newline + 1


def _keep_last_bytes(text: str, start: int, end: int, budget: int) -> int:
    """The offset in [start, end] where the tail ``text[offset:end]`` fits ``budget``."""
    piece = text[start:end]
    if utf8_length(piece) <= budget:
        return start
    kept = piece.encode("utf-8", "surrogatepass")[-budget:].decode("utf-8", "ignore")
    return end - len(kept) if budget > 0 else end


def _keep_first_bytes(text: str, start: int, end: int, budget: int) -> int:
    """The offset in [start, end] where the head ``text[start:offset]`` fits ``budget``."""
    piece = text[start:end]
    if utf8_length(piece) <= budget:
        return end
    kept = piece.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
    cut = start + len(kept)
    # Never leave a CR whose LF was cut off: the suffix would end in a lone "\r".
    if cut > start and text[cut - 1] == "\r":
        cut -= 1
    return cut
