"""The context window: budgets, whole lines, unicode, and bounded work on huge files."""

from __future__ import annotations

from typing import Any, SupportsIndex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bytebuddy_ls.prompting.context import (
    MIN_PROMPT_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    cut_context,
    prompt_token_budget,
)
from bytebuddy_ls.prompting.tokens import estimate_tokens, tokens_to_bytes, utf8_length


def test_estimate_is_conservative_for_ascii_and_cjk() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 2
    # Three CJK characters are 9 UTF-8 bytes: counted as 3 tokens, not 1.
    assert estimate_tokens("漢字体") == 3
    assert utf8_length("😀") == 4


def test_small_file_fits_whole() -> None:
    text = "import os\n\ndef f():\n    return 1\n"
    offset = text.index("return") + len("return")
    window = cut_context(text, offset, max_prompt_tokens=1000)
    assert window.prefix == "import os\n\ndef f():\n    return"
    assert window.suffix == " 1\n"
    assert (window.prefix_start_offset, window.suffix_end_offset) == (0, len(text))
    assert not window.truncated_prefix and not window.truncated_suffix


def test_trims_by_whole_lines_and_splits_budget() -> None:
    lines = [f"line_{i:03d} = {i:03d}\n" for i in range(200)]  # 15 bytes each
    text = "".join(lines)
    offset = text.index("line_100")
    window = cut_context(text, offset, max_prompt_tokens=100, prefix_share=0.7)
    # 300 bytes: 210 for the prefix (14 lines), 90 for the suffix (6 lines).
    assert window.prefix == "".join(lines[86:100])
    assert window.suffix == "".join(lines[100:106])
    assert window.truncated_prefix and window.truncated_suffix
    assert window.prefix == text[window.prefix_start_offset : offset]
    assert window.suffix == text[offset : window.suffix_end_offset]


def test_unused_share_goes_to_the_other_side() -> None:
    lines = [f"line_{i:03d} = {i:03d}\n" for i in range(200)]
    text = "".join(lines)
    near_start = cut_context(text, text.index("line_002"), max_prompt_tokens=100)
    assert near_start.prefix == "".join(lines[:2])
    assert near_start.suffix == "".join(lines[2 : 20 - 2 + 2])  # 300 - 30 bytes = 18 lines
    near_end = cut_context(text, text.index("line_198"), max_prompt_tokens=100)
    assert near_end.suffix == "".join(lines[198:])
    assert near_end.prefix == "".join(lines[180:198])


def test_cursor_line_cut_mid_line_when_too_long() -> None:
    minified = "var a=1;" * 10_000
    offset = len(minified) // 2
    window = cut_context(minified, offset, max_prompt_tokens=100)
    assert 0 < len(window.prefix) <= 210
    assert 0 < len(window.suffix) <= 90
    assert minified[window.prefix_start_offset : offset] == window.prefix


def test_unicode_cut_never_splits_a_character_and_respects_bytes() -> None:
    text = "# 注释😀\n" * 50 + "x = '漢字😀'" + "\nfoo()\r\n" * 50
    offset = text.index("'漢") + 2
    window = cut_context(text, offset, max_prompt_tokens=40)
    assert utf8_length(window.prefix) <= tokens_to_bytes(40)
    assert window.prefix.endswith("x = '漢")
    assert window.suffix.startswith("字😀'\n")
    assert not window.suffix.endswith("\r")


def test_crlf_lines_stay_whole() -> None:
    text = "a = 1\r\nb = 2\r\nc = 3\r\n"
    window = cut_context(text, text.index("c"), max_prompt_tokens=3)
    assert window.prefix in ("b = 2\r\n", "")


def test_prompt_token_budget_uses_the_tightest_limit() -> None:
    assert prompt_token_budget(max_tokens=256) == 2048 - PROMPT_OVERHEAD_TOKENS - 102
    budget = prompt_token_budget(max_tokens=256, context_length=1024, max_input_tokens=4000)
    assert budget == 768 - PROMPT_OVERHEAD_TOKENS - 38
    tgi = prompt_token_budget(max_tokens=500, max_input_tokens=1024, max_total_tokens=1200)
    assert tgi == 700 - PROMPT_OVERHEAD_TOKENS - 35
    assert prompt_token_budget(max_tokens=5000, context_length=4096) == MIN_PROMPT_TOKENS


class _SpyStr(str):
    """A document that records every search window and forbids whole-document work."""

    spans: list[int]

    def rfind(
        self, sub: str, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        assert start is not None and end is not None, "unbounded search"
        self.spans.append(int(end) - int(start))
        return super().rfind(sub, start, end)

    def find(
        self, sub: str, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        assert start is not None and end is not None, "unbounded search"
        self.spans.append(int(end) - int(start))
        return super().find(sub, start, end)

    def __getitem__(self, key: Any) -> str:
        assert isinstance(key, slice), "per-character access"
        start, stop, _ = key.indices(len(self))
        self.spans.append(stop - start)
        return super().__getitem__(key)

    def _forbidden(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("whole-document operation")

    split = splitlines = encode = count = rsplit = partition = _forbidden
    __iter__ = _forbidden  # type: ignore[assignment]


@pytest.mark.parametrize("line", ["value = compute(x)  # comment\n", "漢字 = '😀'\n"])
def test_five_megabyte_document_touches_only_the_budget(line: str) -> None:
    document = _SpyStr(line * (5_000_000 // len(line)))
    document.spans = []
    offset = len(document) // 2
    budget_tokens = 300
    window = cut_context(document, offset, max_prompt_tokens=budget_tokens)
    budget_bytes = tokens_to_bytes(budget_tokens)
    assert utf8_length(window.prefix) + utf8_length(window.suffix) <= budget_bytes
    assert len(window.prefix) > budget_bytes * 0.5 / 4
    # Every search and slice covered at most the budget (in characters, <= bytes).
    assert document.spans and max(document.spans) <= budget_bytes
    assert sum(document.spans) <= 40 * budget_bytes


@given(
    st.text(alphabet=st.sampled_from(list("ab \n\r漢😀")), max_size=300),
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=0, max_value=80),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_window_is_a_consistent_slice_within_budget(
    text: str, offset: int, tokens: int, share: float
) -> None:
    window = cut_context(text, offset, max_prompt_tokens=tokens, prefix_share=share)
    cursor = min(offset, len(text))
    assert window.prefix == text[window.prefix_start_offset : cursor]
    assert window.suffix == text[cursor : window.suffix_end_offset]
    assert utf8_length(window.prefix) + utf8_length(window.suffix) <= tokens_to_bytes(tokens)
    assert window.truncated_prefix == (window.prefix_start_offset > 0)
    assert window.truncated_suffix == (window.suffix_end_offset < len(text))
    # Whole lines: the prefix starts at a line start unless the cursor line was cut.
    start = window.prefix_start_offset
    if start > 0 and "\n" in window.prefix:
        assert text[start - 1] == "\n"


def test_stable_start_keeps_the_prompt_beginning_while_typing() -> None:
    text = "".join(f"line_{i} = compute({i}, {i * 7})\n" for i in range(400))
    cursor = text.index("line_300")
    starts_stable, starts_plain = set(), set()
    for typed in range(1, 120):
        typing = text[:cursor] + "x" * typed + text[cursor:]
        offset = cursor + typed
        stable = cut_context(typing, offset, max_prompt_tokens=512, stable_start=True)
        plain = cut_context(typing, offset, max_prompt_tokens=512)
        assert stable.prefix_start_offset >= plain.prefix_start_offset  # within budget
        assert typing[stable.prefix_start_offset - 1] == "\n"  # a whole first line
        starts_stable.add(stable.prefix_start_offset)
        starts_plain.add(plain.prefix_start_offset)
    assert len(starts_plain) > 3
    assert len(starts_stable) <= 2


def test_max_suffix_tokens_caps_the_suffix() -> None:
    text = "a = 1\n" * 10 + "b = 2\n" * 300
    window = cut_context(text, 60, max_prompt_tokens=1024, max_suffix_tokens=16)
    assert len(window.suffix.encode()) <= 48 and window.suffix.startswith("b = 2\n")
    assert window.prefix == text[:60]
