"""The incremental document store against a plain reference model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from bytebuddy_ls.documents import Document


def ref_offset(text: str, line: int, character: int, encoding: str = "utf-16") -> int:
    """Obviously-correct (slow) position → offset: split on \\n, clamp."""
    lines = text.split("\n")
    if line >= len(lines):
        return len(text)
    start = sum(len(x) + 1 for x in lines[:line])
    terminated = line < len(lines) - 1
    content = lines[line][:-1] if terminated and lines[line].endswith("\r") else lines[line]
    units = 0
    for index, ch in enumerate(content):
        if units >= character:
            return start + index
        units += (2 if ord(ch) > 0xFFFF else 1) if encoding == "utf-16" else len(ch.encode())
    return start + len(content)


alphabet = st.sampled_from(["a", "b", " ", "\n", "\r\n", "é", "字", "😀", "\t", "}", "\r"])
texts = st.lists(alphabet, max_size=60).map("".join)
edits = st.lists(
    st.tuples(
        st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), texts
    ),
    max_size=25,
)


@settings(max_examples=400, deadline=None)
@given(texts, edits)
def test_incremental_edits_match_reference(initial: str, changes: list) -> None:
    doc = Document("file:///x", initial)
    expected = initial
    for l1, c1, l2, c2, new in changes:
        a = ref_offset(expected, l1, c1)
        b = ref_offset(expected, l2, c2)
        a, b = min(a, b), max(a, b)
        expected = expected[:a] + new + expected[b:]
        start, end = types.Position(l1, c1), types.Position(l2, c2)
        doc.apply_change(
            types.TextDocumentContentChangePartial(range=types.Range(start, end), text=new)
        )
        assert doc.text == expected
        # Positions round-trip through the anchor, whichever way it last moved.
        probe = types.Position(l2, c2)
        offset = doc.offset_at(probe)
        assert offset == ref_offset(expected, l2, c2)
        back = doc.position_at(offset)
        assert doc.offset_at(back) == offset


def test_utf16_columns_with_emoji_and_cjk() -> None:
    doc = Document("file:///x", "a😀b字c\r\nsecond")
    assert doc.offset_at(types.Position(0, 3)) == 2  # after the surrogate pair
    assert doc.offset_at(types.Position(0, 5)) == 4
    assert doc.offset_at(types.Position(0, 99)) == 5  # clamped before \r
    assert doc.offset_at(types.Position(1, 0)) == 7
    assert doc.position_at(4) == types.Position(0, 5)
    utf8 = Document("file:///x", "é字x", encoding=types.PositionEncodingKind.Utf8)
    assert utf8.offset_at(types.Position(0, 5)) == 2


def test_far_jumps_in_a_large_document() -> None:
    text = "".join(f"line {i}\n" for i in range(200_000))
    doc = Document("file:///big", text)
    assert doc.offset_at(types.Position(150_000, 2)) == text.index("line 150000\n") + 2
    assert doc.offset_at(types.Position(10, 0)) == text.index("line 10\n")
    assert doc.offset_at(types.Position(199_999, 0)) == text.index("line 199999\n")
    assert doc.offset_at(types.Position(300_000, 0)) == len(text)
    assert doc.position_at(text.index("line 123456\n")) == types.Position(123_456, 0)
