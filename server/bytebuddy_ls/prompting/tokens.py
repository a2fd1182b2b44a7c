"""A cheap, conservative token estimate for sizing prompts.

No tokenizer is loaded: the estimate is the UTF-8 length divided by ``BYTES_PER_TOKEN``.
Code BPE tokenizers average 3.5-4.5 bytes per token on ASCII code and 2-3 bytes per
token on CJK text; 3.0 over-estimates in both cases, so a prompt sized with it stays
within the server's limit (the failure users report is overflow, never underuse).
"""

from __future__ import annotations

import math

BYTES_PER_TOKEN = 3.0


def utf8_length(text: str) -> int:
    """UTF-8 byte length; O(1) for ASCII strings (``str.isascii`` reads a flag)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (an over-estimate for typical code)."""
    return math.ceil(utf8_length(text) / BYTES_PER_TOKEN)


def tokens_to_bytes(tokens: int) -> int:
    """The UTF-8 budget that ``estimate_tokens`` maps to ``tokens``."""
    return max(0, int(tokens * BYTES_PER_TOKEN))
