"""Apply as minimal edits: diffing, locating fragments, placeholders, planning, the guard."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytebuddy_ls.prompting.lines import detect_eol, split_lines
from bytebuddy_ls.prompting.merge import (
    LineEdit,
    apply_line_edits,
    deletion_guard,
    elision_lines,
    finish_model_apply,
    has_elisions,
    line_edit_offsets,
    locate_fragment,
    minimal_edits,
    plan_apply,
    splice_lines,
)

PY_DOC = """import os


def first(x):
    if x:
        return 1
    return 2


def second():
    return 3
"""

# ---------------------------------------------------------------------------
# split_lines / minimal_edits


def test_split_lines_uses_only_lsp_line_terminators() -> None:
    text = "a\r\nb\rc\nd\u2028e\x0cf"
    assert split_lines(text) == ["a\r\n", "b\r", "c\n", "d\u2028e\x0cf"]
    assert split_lines("") == []
    assert split_lines("x\n") == ["x\n"]


def test_one_changed_line_is_one_small_edit() -> None:
    old = "".join(f"line {i}\n" for i in range(100))
    new = old.replace("line 42\n", "line forty-two\n")
    assert minimal_edits(old, new) == [LineEdit(42, 43, "line forty-two\n")]


def test_identical_texts_need_no_edit() -> None:
    assert minimal_edits(PY_DOC, PY_DOC) == []


def test_crlf_is_preserved_in_edits() -> None:
    old = "a\r\nb\r\nc\r\n"
    new = "a\r\nB\r\nc\r\n"
    assert minimal_edits(old, new) == [LineEdit(1, 2, "B\r\n")]


def test_separate_changes_are_separate_edits_and_adjacent_ones_merge() -> None:
    old = "".join(f"{i}\n" for i in range(10))
    new = old.replace("2\n", "two\n").replace("7\n", "").replace("8\n", "eight\n")
    edits = minimal_edits(old, new)
    assert edits == [LineEdit(2, 3, "two\n"), LineEdit(7, 9, "eight\n")]
    assert apply_line_edits(old, edits) == new


def test_appending_to_a_file_without_final_newline() -> None:
    edits = minimal_edits("a\nb", "a\nb\nc")
    assert edits == [LineEdit(1, 2, "b\nc")]
    assert apply_line_edits("a\nb", edits) == "a\nb\nc"


def test_pure_insertion_and_deletion() -> None:
    assert minimal_edits("a\nc\n", "a\nb\nc\n") == [LineEdit(1, 1, "b\n")]
    assert minimal_edits("a\nb\nc\n", "a\nc\n") == [LineEdit(1, 2, "")]
    assert minimal_edits("", "x\n") == [LineEdit(0, 0, "x\n")]
    assert minimal_edits("x\n", "") == [LineEdit(0, 1, "")]


def test_line_edit_offsets() -> None:
    text = "ab\r\ncd\nef"
    assert line_edit_offsets(text, LineEdit(1, 2, "")) == (4, 7)
    assert line_edit_offsets(text, LineEdit(2, 3, "")) == (7, 9)
    assert line_edit_offsets(text, LineEdit(3, 3, "")) == (9, 9)


def test_overlapping_edits_are_rejected() -> None:
    with pytest.raises(ValueError):
        apply_line_edits("a\nb\nc\n", [LineEdit(0, 2, ""), LineEdit(1, 3, "")])


_line = st.sampled_from(
    ["", "a", "b", "  a", "}", "é", "😀 x", "\t\tz", "x\u2028y", "def f():", "    pass"]
)
_eol = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.tuples(_line, _eol), max_size=30))
    text = "".join(line + eol for line, eol in lines)
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    return text


@settings(max_examples=400, deadline=None)
@given(_documents(), _documents())
def test_minimal_edits_reproduce_the_new_text_exactly(old: str, new: str) -> None:
    edits = minimal_edits(old, new)
    assert apply_line_edits(old, edits) == new
    # Edits are ordered, disjoint and never no-ops.
    for before, after in itertools.pairwise(edits):
        assert before.end_line < after.start_line
    for edit in edits:
        old_span = "".join(split_lines(old)[edit.start_line : edit.end_line])
        assert old_span != edit.new_text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_minimal_edits_exact_on_arbitrary_text(old: str, new: str) -> None:
    assert apply_line_edits(old, minimal_edits(old, new)) == new


def test_ten_thousand_line_file_with_scattered_changes_is_fast() -> None:
    rng = random.Random(7)
    lines = []
    for i in range(10_000):
        roll = rng.random()
        lines.append("" if roll < 0.15 else "    }" if roll < 0.3 else f"    x{i} = f({i})")
    old = "\n".join(lines) + "\n"
    changed = list(lines)
    for k in range(0, 10_000, 50):
        changed[k] = f"changed {k}"
    new = "\n".join(changed) + "\n"
    started = time.perf_counter()
    edits = minimal_edits(old, new)
    elapsed = time.perf_counter() - started
    assert apply_line_edits(old, edits) == new
    assert len(edits) == 200
    assert elapsed < 2.0


# ---------------------------------------------------------------------------
# Elisions


@pytest.mark.parametrize(
    "line",
    [
        "# ...",
        "    // ... existing code ...",
        "// ... rest of the code",
        "/* ... */",
        "<!-- ... -->",
        "{/* ... */}",
        "    # … unchanged …",
        "# rest of the file unchanged",
        "// existing code here",
        "    # (unchanged)",
        "// other methods omitted",
        "# rest of the implementation stays the same",
        "-- ... other queries",
        "[...]",
        "... existing code ...",
        "...",
    ],
)
def test_placeholders_are_recognised(line: str) -> None:
    assert has_elisions(f"def f():\n{line}\n    return 1\n")


@pytest.mark.parametrize(
    "code",
    [
        "x = [1, 2, 3]\nprint(x)\n",
        'print("Loading rest of data...")\n',
        "args = [*xs, ...]\n",
        "# Compute the remaining total\ntotal = a + b\n",
        "# Return the original value\nreturn value\n",
        "const {a, ...rest} = obj;\n",
    ],
)
def test_ordinary_code_has_no_placeholders(code: str) -> None:
    assert not has_elisions(code)


def test_bare_ellipsis_is_code_in_python() -> None:
    stub = "class P(Protocol):\n    def f(self) -> int:\n        ...\n"
    assert not has_elisions(stub, language="python")
    assert has_elisions(stub, language="typescript")


def test_a_placeholder_the_document_already_has_is_not_an_elision() -> None:
    document = "def f():\n    # ...\n    return 1\n"
    assert not has_elisions("def f():\n    # ...\n    return 2\n", document=document)
    assert elision_lines("a\n// ...\nb\n") == [1]


# ---------------------------------------------------------------------------
# locate_fragment


def test_function_redefinition_replaces_that_function() -> None:
    assert locate_fragment(PY_DOC, "def first(x):\n    return x * 2\n") == (3, 7)
    assert locate_fragment(PY_DOC, "def second():\n    return 4\n") == (9, 11)


def test_fragment_with_same_first_and_last_lines() -> None:
    fragment = "    if x:\n        return 10\n    return 2\n"
    assert locate_fragment(PY_DOC, fragment) == (4, 7)


def test_anchor_match_ignores_whitespace() -> None:
    assert locate_fragment(PY_DOC, "def  first( x ):\n  return x\n") == (3, 7)


def test_ambiguous_or_missing_anchor_gives_none() -> None:
    doc = "def f():\n    return 1\n\ndef f():\n    return 2\n"
    assert locate_fragment(doc, "def f():\n    return 3\n") is None
    assert locate_fragment(PY_DOC, "def third():\n    return 9\n") is None
    assert locate_fragment(PY_DOC, "") is None


def test_brace_block_closer_belongs_to_the_block() -> None:
    doc = (
        "function a() {\n"
        "  if (x) {\n"
        "    y();\n"
        "  }\n"
        "  return 1;\n"
        "}\n"
        "\n"
        "function b() {\n"
        "  return 2;\n"
        "}\n"
    )
    fragment = "function a() {\n  return 5;\n}\n"
    assert locate_fragment(doc, fragment) == (0, 6)


def test_block_does_not_reach_into_the_next_function() -> None:
    doc = "def f():\n    return y\n\ndef g():\n    return x\n"
    assert locate_fragment(doc, "def f():\n    x = 1\n    return x\n") == (0, 2)


# ---------------------------------------------------------------------------
# splice_lines / plan_apply


def test_splice_keeps_crlf_and_missing_final_newline() -> None:
    doc = "a\r\nb\r\nc"
    assert splice_lines(doc, (1, 2), "B\n") == "a\r\nB\r\nc"
    assert splice_lines(doc, (2, 3), "C\n") == "a\r\nb\r\nC"
    assert splice_lines("a\nb\n", (1, 2), "B") == "a\nB\n"
    assert splice_lines("a\nb", None, "x\ny\n") == "x\ny"
    assert splice_lines("", None, "x\n") == "x\n"
    assert detect_eol("x\r\ny\n") == "\r\n"


def test_whole_file_block_is_a_deterministic_minimal_diff() -> None:
    code = PY_DOC.replace("return 3", "return 33")
    plan = plan_apply(PY_DOC, code)
    assert plan.kind == "whole_file"
    assert plan.new_text == code
    assert minimal_edits(PY_DOC, code) == [LineEdit(10, 11, "    return 33\n")]


def test_whole_file_block_in_lf_applies_to_crlf_document() -> None:
    crlf = PY_DOC.replace("\n", "\r\n")
    plan = plan_apply(crlf, PY_DOC.replace("return 1", "return 100"))
    assert plan.kind == "whole_file"
    assert plan.new_text == crlf.replace("return 1", "return 100")
    assert plan.new_text is not None
    assert minimal_edits(crlf, plan.new_text) == [LineEdit(5, 6, "        return 100\r\n")]


def test_fragment_plan_replaces_only_the_located_function() -> None:
    plan = plan_apply(PY_DOC, "def second():\n    return 4\n")
    assert plan.kind == "fragment"
    assert plan.region == (9, 11)
    assert plan.new_text == PY_DOC.replace("return 3", "return 4")


def test_range_plan_replaces_exactly_the_range() -> None:
    plan = plan_apply(PY_DOC, "    return 22", (6, 7))
    assert plan.kind == "range"
    assert plan.new_text == PY_DOC.replace("    return 2\n", "    return 22\n")


def test_elisions_need_the_model_with_a_region_when_one_is_found() -> None:
    plan = plan_apply(PY_DOC, "def first(x):\n    # ... existing code ...\n    return 5\n")
    assert plan.kind == "needs_model"
    assert plan.new_text is None
    assert plan.region == (3, 7)
    assert plan_apply(PY_DOC, "# ...\nprint(1)\n").region is None


def test_no_anchor_needs_the_model() -> None:
    plan = plan_apply(PY_DOC, "print('hello')\n")
    assert plan.kind == "needs_model"
    assert plan.region is None


def test_code_already_present_is_no_change() -> None:
    assert plan_apply(PY_DOC, "def second():\n    return 3\n").kind == "no_change"
    assert plan_apply(PY_DOC, "\n\n").kind == "no_change"


def test_empty_document_takes_the_whole_block() -> None:
    plan = plan_apply("", "print(1)\n")
    assert plan.kind == "whole_file"
    assert plan.new_text == "print(1)\n"


def test_finish_model_apply_splices_the_merged_region() -> None:
    merged = "def first(x):\n    if x:\n        return 1\n    return 5\n"
    result = finish_model_apply(PY_DOC, merged, (3, 7))
    assert result == PY_DOC.replace("    return 2\n", "    return 5\n")


# ---------------------------------------------------------------------------
# deletion_guard


def _module(functions: int) -> str:
    return "".join(f"def f{i}():\n    a = {i}\n    return a\n\n" for i in range(functions))


def test_guard_refuses_when_a_lazy_block_drops_most_of_the_file() -> None:
    old = _module(12)
    fragment = "def f0():\n    a = 0\n    return a + 1\n"
    new = fragment  # whole file replaced by one function
    reason = deletion_guard(old, new, fragment)
    assert reason is not None
    assert "delete" in reason


def test_guard_allows_deletions_the_block_mentions_or_replaced() -> None:
    old = _module(12)
    new = old.replace("def f3():\n    a = 3\n    return a\n\n", "")
    assert deletion_guard(old, new, new) is None  # only 3 lines gone
    many_gone = _module(2)
    assert deletion_guard(old, many_gone, many_gone) is not None
    # Lines inside the region the fragment deliberately replaced do not count.
    assert deletion_guard(old, many_gone, many_gone, replaced=(8, 48)) is None


def test_guard_counts_a_body_replaced_by_a_placeholder_comment() -> None:
    body = "".join(f"    step{i}()\n" for i in range(25))
    old = f"def run():\n{body}    return 0\n"
    new = "def run():\n    # ... existing code ...\n    return 0\n"
    assert deletion_guard(old, new, new) is not None


def test_guard_allows_rewriting_a_function_shorter() -> None:
    old = "def f(xs):\n" + "".join(f"    step{i}(xs)\n" for i in range(6)) + "    return xs\n"
    new = "def f(xs):\n    return run_all(xs)\n"
    assert deletion_guard(old, new, new) is None
    assert deletion_guard(old, old, "") is None


def test_range_beats_similarity_so_lines_around_it_survive() -> None:
    doc = "import a\n" + "".join(f"x{i} = {i}\n" for i in range(9))
    code = "".join(f"x{i} = {i}\n" for i in range(9)).replace("x4 = 4", "x4 = 40")
    plan = plan_apply(doc, code, (1, 10))
    assert plan.kind == "range"
    assert plan.new_text == doc.replace("x4 = 4\n", "x4 = 40\n")
    # Without the range the same block reads as the whole file (and the guard and the
    # minimal diff show the dropped import for review).
    assert plan_apply(doc, code).kind == "whole_file"


_plain_line = st.text(st.sampled_from("ab (){}:é😀\t "), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_plain_line, min_size=1, max_size=12),
    st.lists(_plain_line, max_size=5),
    st.data(),
    st.sampled_from(["\n", "\r\n"]),
)
def test_splice_replaces_exactly_the_region_in_the_documents_line_endings(
    doc_lines: list[str], code_lines: list[str], data: st.DataObject, eol: str
) -> None:
    start = data.draw(st.integers(0, len(doc_lines)))
    end = data.draw(st.integers(start, len(doc_lines)))
    document = "".join(line + eol for line in doc_lines)
    code = "".join(line + "\n" for line in code_lines)
    spliced = splice_lines(document, (start, end), code)
    expected_code = "".join(line + eol for line in code_lines)
    if not code.strip("\r\n"):
        expected_code = ""
    before = "".join(line + eol for line in doc_lines[:start])
    after = "".join(line + eol for line in doc_lines[end:])
    assert spliced == before + expected_code + after
    assert apply_line_edits(document, minimal_edits(document, spliced)) == spliced
