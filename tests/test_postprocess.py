"""Golden tests for completion post-processing, the multi-line decision and StreamFilter."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytebuddy_ls.prompting.fim import special_tokens_for
from bytebuddy_ls.prompting.postprocess import (
    Completion,
    StreamFilter,
    cut_at_tokens,
    postprocess,
    wants_multiline,
)

STARCODER_STOP = ("<file_sep>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<|endoftext|>")
STARCODER_SPECIAL = special_tokens_for("bigcode/starcoder2-15b")
DEEPSEEK_SPECIAL = special_tokens_for("deepseek-ai/deepseek-coder-6.7b-base")


@dataclass(frozen=True)
class Case:
    name: str
    prefix: str
    suffix: str
    raw: str
    expected: str | None
    replace: str = ""
    multiline: bool = True
    indent_unit: str | None = None
    reindent: bool = False
    language: str | None = None
    max_lines: int = 16


CASES = [
    # Stop and special tokens.
    Case("stop token", "def f():\n    ", "\n", "return 1<|endoftext|>garbage", "return 1"),
    Case("fim token mid-output", "def f():\n    ", "\n", "return 1<fim_middle>x", "return 1"),
    Case("echoed leading sentinel", "def f():\n    ", "\n", "<fim_middle>return 1", "return 1"),
    Case("unknown model's control token", "x = ", "\n", "1<|eot_id|>\nmore", "1"),
    Case("deepseek end token", "y = ", "\n", "a + b<｜end▁of▁sentence｜>", "a + b"),
    Case("only a token", "y = ", "\n", "<|endoftext|>", None),
    # Single-line vs multi-line.
    Case(
        "single-line keeps the first line",
        "x = foo(",
        "a) + 1\n",
        "bar, \nmore",
        "bar, ",
        multiline=False,
    ),
    Case("single-line leading newline is nothing", "x = 1 + ", "\n", "\n2", None, multiline=False),
    Case(
        "multi-line body",
        "def f(x):\n    ",
        "\n",
        "y = x * 2\n    return y",
        "y = x * 2\n    return y",
    ),
    Case(
        "bounded length",
        "def f():\n    ",
        "\n",
        "a()\n    b()\n    c()\n    d()",
        "a()\n    b()\n    c()",
        max_lines=3,
    ),
    Case(
        "stops at the next suffix line",
        "def f(x):\n    ",
        "\n    return y\n",
        "y = x + 1\n    return y\n",
        "y = x + 1",
    ),
    Case(
        "stops at a near-identical suffix line",
        "def f(x):\n    ",
        "\n    return compute(x, y)\n",
        "y = 2\n    return compute(x, y )",
        "y = 2",
    ),
    Case(
        "a table row like the one below is a new row",
        "table = {\n    0x004f: 0x004f,     #  LATIN CAPITAL LETTER O\n    ",
        "\n    0x0051: 0x0051,     #  LATIN CAPITAL LETTER Q\n}\n",
        "0x0050: 0x0050,     #  LATIN CAPITAL LETTER P",
        "0x0050: 0x0050,     #  LATIN CAPITAL LETTER P",
    ),
    Case(
        "stops at the closing brace below",
        "function f() {\n  ",
        "\n}\n",
        "return 1;\n}",
        "return 1;",
    ),
    Case(
        "inner closing brace is kept",
        "function f() {\n  ",
        "\n}\n",
        "if (x) {\n    y();\n  }\n  return 1;\n}",
        "if (x) {\n    y();\n  }\n  return 1;",
    ),
    Case(
        "completion equal to the line below is nothing",
        "def f(x):\n    ",
        "\n    return x\n",
        "return x",
        None,
    ),
    # Text after the cursor (auto-closed brackets, quotes, colons).
    Case("auto-closed paren trimmed", "print(", ")\n", '"hi")', '"hi"'),
    Case("auto-closed quote and bracket trimmed", 'x = ["', '"]\n', 'a", "b"]', 'a", "b'),
    Case("paren and colon trimmed", "if check(", "):\n", "x):", "x"),
    Case("own closing paren kept", "print(", ")\n", "foo()", "foo()"),
    Case("nested list kept", "x = [", "]\n", "[1, 2]", "[1, 2]"),
    Case(
        "ends with it after more code: trimmed", "total = sum(", ")\n", "a) + sum(b)", "a) + sum(b"
    ),
    Case(
        "re-closes and goes on: range covers it",
        "def f(",
        "):\n",
        "x) -> int:",
        "x) -> int:",
        replace="):",
    ),
    Case("re-closes before a brace", "if (", ")\n", "a > b) {", "a > b) {", replace=")"),
    Case("closing quote of the prefix string", 'x = "', '"\n', 'a" + "b"', 'a" + "b'),
    Case(
        "multi-line arguments before an auto-closed paren",
        "foo(",
        ")\n",
        "\n    a,\n    b,\n)",
        "\n    a,\n    b,\n",
    ),
    Case(
        "trailing spaces kept before text on the line",
        "x = ",
        "y\n",
        "1 + ",
        "1 + ",
        multiline=False,
    ),
    Case("trailing spaces dropped at the end of a line", "x = ", "\n", "1   ", "1"),
    Case("text after cursor already typed", "x = ", "compute()\n", "compute()", None),
    Case(
        "suffix duplicate of plain text", "total = a", " + 1\n", " + b + 1", " + b", multiline=False
    ),
    # Nothing to show.
    Case("whitespace only", "x = ", "\n", "   \n  ", None),
    Case("empty", "x = ", "\n", "", None),
    Case("rewrites the line above", "x = compute(a, b)\n", "\n", "x = compute(a, b)", None),
    Case(
        "rewrites the line above after typed text",
        "    x = compute(a, b)\n    x = ",
        "\n",
        "compute(a, b)",
        None,
    ),
    Case("closing brace may repeat the line above", "      }\n    ", "\n", "}", "}"),
    Case("extreme repetition keeps one copy", "\n", "", "foo()\nfoo()\nfoo()\nfoo()", "foo()"),
    Case("two copies are fine", "\n", "", "foo()\nfoo()\nbar()", "foo()\nfoo()\nbar()"),
    Case("double blank line ends it", "\n", "", "a = 1\n\n\nb = 2", "a = 1"),
    Case("single blank line kept", "\n", "", "a = 1\n\nb = 2", "a = 1\n\nb = 2"),
    # Markdown fences.
    Case("fenced output", "def f():\n    ", "\n", "```python\nreturn 1\n```", "return 1"),
    Case(
        "closing fence then prose",
        "def f():\n    ",
        "\n",
        "return 1\n```\nThis returns.",
        "return 1",
    ),
    Case(
        "markdown documents keep fences",
        "# Title\n\n",
        "\n",
        "```python\nx = 1\n```",
        "```python\nx = 1\n```",
        language="markdown",
    ),
    # Indentation.
    Case(
        "duplicated cursor indentation removed", "def f():\n    ", "\n", "    return 1", "return 1"
    ),
    Case(
        "leading blank lines on an empty line",
        "def f():\n    ",
        "\n",
        "\n\n    return 1",
        "return 1",
    ),
    Case("new line after a block start kept", "def f():", "\n", "\n    return 1", "\n    return 1"),
    Case(
        "spaces converted to the document's tabs",
        "func f() {\n\t",
        "\n}\n",
        "if x {\n        y()\n    }",
        "if x {\n\t\ty()\n\t}",
        indent_unit="\t",
    ),
    Case(
        "tabs converted to the document's spaces",
        "def f():\n    ",
        "\n",
        "if x:\n\t\ty()",
        "if x:\n        y()",
        indent_unit="    ",
    ),
    Case(
        "chat snippet from column 0 reindented",
        "class A:\n    def f(self):\n        ",
        "\n",
        "x = 1\nreturn x",
        "x = 1\n        return x",
        reindent=True,
    ),
    Case(
        "relative indentation kept without reindent",
        "def f():\n    ",
        "\n",
        "if x:\n        y()",
        "if x:\n        y()",
    ),
    # Line endings and non-ASCII text.
    Case(
        "CRLF document gets CRLF",
        "def f():\r\n    ",
        "\r\n    pass\r\n",
        "x = 1\ny = 2",
        "x = 1\r\ny = 2",
    ),
    Case(
        "CRLF from the model normalized",
        "def f():\r\n    ",
        "\r\n",
        "x = 1\r\ny = 2",
        "x = 1\r\ny = 2",
    ),
    Case("LF document never gets CR", "def f():\n    ", "\n", "x = 1\r\ny = 2", "x = 1\ny = 2"),
    Case("CRLF line suffix", "print(", ")\r\nnext()\r\n", '"hi")', '"hi"'),
    Case("CJK and emoji", "msg = '你好", "'\n", "世界😀'", "世界😀"),
    Case(
        "CJK multi-line",
        "# 说明\ndef 函数():\n    ",
        "\n",
        "返回 = '😀'\n    return 返回",
        "返回 = '😀'\n    return 返回",
    ),
    Case(
        "emoji before an auto-closed paren, replaced",
        "f(",
        ")\n",
        "'😀') + 1",
        "'😀') + 1",
        replace=")",
    ),
    Case("unclosed call before an auto-closed paren kept", "f(", ")\n", "'😀') + g(", "'😀') + g("),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    result = postprocess(
        case.raw,
        prefix=case.prefix,
        suffix=case.suffix,
        multiline=case.multiline,
        stop=STARCODER_STOP,
        special_tokens=STARCODER_SPECIAL + DEEPSEEK_SPECIAL,
        indent_unit=case.indent_unit,
        reindent=case.reindent,
        language=case.language,
        max_lines=case.max_lines,
    )
    if case.expected is None:
        assert result is None
        return
    assert result is not None
    assert result.text == case.expected
    assert result.replaced_suffix == case.replace
    assert result.replace_suffix_chars == len(case.replace)


def test_replace_suffix_in_utf16_units() -> None:
    completion = Completion("x", replace_suffix_chars=2, replaced_suffix="😀)")
    assert completion.replace_suffix_utf16 == 3


def test_config_stop_sequences_cut_the_output() -> None:
    result = postprocess(
        "a = 1\n\nb = 2", prefix="\n", suffix="", multiline=True, stop=["\n\n"], special_tokens=()
    )
    assert result is not None and result.text == "a = 1"


def test_replaced_characters_always_appear_in_order_in_the_text() -> None:
    for case in CASES:
        if case.replace:
            result = postprocess(
                case.raw,
                prefix=case.prefix,
                suffix=case.suffix,
                multiline=case.multiline,
                stop=(),
                special_tokens=(),
            )
            assert result is not None
            position = 0
            for ch in result.replaced_suffix.strip():
                position = result.text.index(ch, position) + 1


# --- wants_multiline -------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "suffix", "language", "expected"),
    [
        ("def f():\n    ", "\n", "python", True),  # empty line
        ("", "", None, True),
        ("def f():", "\n", "python", True),  # block start
        ("x = foo(", ")\n", "python", True),  # only an auto-closed bracket after the cursor
        ("const o = {", "};\n", "javascript", True),
        ("if x then", "\n", "lua", True),
        ("x = foo(a", ", b)\n", "python", False),  # mid-line
        ("foo", "bar\n", None, False),
        ("return x", "\n", "python", False),  # end of an ordinary line
        ("    # compute the ", "\n", "python", False),  # comment
        ("int x = 1; // note: ", "\n", "c", False),
        ("-- a comment {", "\n", "lua", False),
        ('s = "//"; f(', ")\n", "javascript", True),  # "//" inside a string
        ("x = '#'; y = [", "]\n", "python", True),
        ("// unknown language {", "\n", None, False),
        ("# shell comment {", "\n", None, False),
        ("#include <std", ">\n", "c", False),
        (" * doc comment {", "\n", "java", False),
        ("def f():\r\n    ", "\r\n", "python", True),  # CRLF
        ("x = foo(", ")\r\n", "python", True),
    ],
)
def test_wants_multiline(prefix: str, suffix: str, language: str | None, expected: bool) -> None:
    assert wants_multiline(prefix, suffix, language) is expected


# --- StreamFilter ----------------------------------------------------------------


def _stream(
    chunks: list[str],
    *,
    prefix: str = "\n",
    suffix: str = "",
    multiline: bool = True,
    max_lines: int = 16,
) -> tuple[StreamFilter, list[str]]:
    stream = StreamFilter(
        prefix=prefix,
        suffix=suffix,
        multiline=multiline,
        stop=STARCODER_STOP,
        special_tokens=STARCODER_SPECIAL,
        max_lines=max_lines,
    )
    outputs = []
    for chunk in chunks:
        outputs.append(stream.feed(chunk))
        if stream.done:
            break
    outputs.append(stream.finish())
    return stream, outputs


def test_stream_token_split_across_chunks() -> None:
    stream, outputs = _stream(["return 1<fim", "_middle>more", "ignored"])
    assert stream.done and stream.text == "return 1"
    assert "".join(outputs) == "return 1"


def test_stream_holds_back_a_possible_token_start() -> None:
    stream = StreamFilter(prefix="", suffix="", multiline=True, stop=(), special_tokens=())
    assert stream.feed("a <") == "a "
    assert stream.feed("b") == "<b"
    assert stream.feed("x <|eo") == "x "
    assert stream.feed("t_id|> tail") == ""
    assert stream.done and stream.text == "a <bx "


def test_stream_finish_releases_the_held_tail() -> None:
    stream, outputs = _stream(["x <"])
    assert outputs == ["x ", "<"] and not stream.done and stream.text == "x <"


def test_stream_single_line_stops_at_the_first_newline() -> None:
    stream, _ = _stream(["foo", "(1)\nbar", "never fed"], prefix="x = ", multiline=False)
    assert stream.done
    result = postprocess(
        stream.text,
        prefix="x = ",
        suffix="",
        multiline=False,
        stop=STARCODER_STOP,
        special_tokens=STARCODER_SPECIAL,
    )
    assert result is not None and result.text == "foo(1)"


def test_stream_stops_at_the_suffix_line() -> None:
    stream = StreamFilter(
        prefix="def f(x):\n    ",
        suffix="\n    return y\n",
        multiline=True,
        stop=(),
        special_tokens=(),
    )
    stream.feed("y = 1\n    ret")
    assert not stream.done
    stream.feed("urn y\n")
    assert stream.done


def test_stream_line_limit() -> None:
    stream, _ = _stream(["a\nb", "\nc\nd\n"], max_lines=2)
    assert stream.done


def test_stream_double_blank_line() -> None:
    stream, _ = _stream(["a = 1\n", "\n", "\n", "b = 2"])
    assert stream.done and stream.text.startswith("a = 1\n\n")


# --- properties --------------------------------------------------------------------

_FRAGMENTS = [
    "x",
    "foo",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    ":",
    ",",
    " ",
    "    ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "漢字",
    "😀",
    "<",
    "|",
    ">",
    "fim_",
    "<fim_middle>",
    "<|endoftext|>",
    "<|im_end|>",
    "<｜fim▁hole｜>",
    "```",
    "```python\n",
    "return",
    "<file_sep>",
    "<|eot_id|>",
    "<|fim",
    "_prefix|>",
    "▁",
    "｜",
]
_TEXT = st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map("".join)
_ALL_SPECIAL = STARCODER_SPECIAL + DEEPSEEK_SPECIAL + special_tokens_for("Qwen/Qwen2.5-Coder")


@settings(max_examples=400, deadline=None)
@given(_TEXT, _TEXT, _TEXT, st.booleans(), st.booleans(), st.sampled_from([None, "\t", "  "]))
def test_postprocess_never_raises_and_never_leaks_tokens(
    raw: str,
    prefix: str,
    suffix: str,
    multiline: bool,
    reindent: bool,
    indent_unit: str | None,
) -> None:
    result = postprocess(
        raw,
        prefix=prefix,
        suffix=suffix,
        multiline=multiline,
        stop=STARCODER_STOP,
        special_tokens=_ALL_SPECIAL,
        indent_unit=indent_unit,
        reindent=reindent,
    )
    if result is None:
        return
    assert result.text.strip()
    for token in _ALL_SPECIAL:
        assert token not in result.text
    assert re.search(r"<\|[A-Za-z][\w.]*\|>", result.text) is None
    if not multiline:
        assert "\n" not in result.text
    line_suffix = suffix.replace("\r\n", "\n").split("\n", 1)[0]
    assert line_suffix.startswith(result.replaced_suffix)
    if "\r" not in prefix + suffix:
        assert "\r" not in result.text


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(st.integers(min_value=1, max_value=7), max_size=12), st.booleans())
def test_stream_filter_agrees_with_cutting_the_whole_text(
    raw: str,
    sizes: list[int],
    multiline: bool,
) -> None:
    stream = StreamFilter(
        prefix="\n",
        suffix="",
        multiline=multiline,
        stop=STARCODER_STOP,
        special_tokens=_ALL_SPECIAL,
        max_lines=1000,
    )
    emitted = []
    position = 0
    for size in [*sizes, len(raw)]:
        emitted.append(stream.feed(raw[position : position + size]))
        position += size
        if stream.done:
            break
    emitted.append(stream.finish())
    whole = cut_at_tokens(raw, (*STARCODER_STOP, *_ALL_SPECIAL))
    assert "".join(emitted) == stream.text
    assert whole.startswith(stream.text)
    if not stream.done:
        assert stream.text == whole
    for token in _ALL_SPECIAL:
        assert token not in stream.text
