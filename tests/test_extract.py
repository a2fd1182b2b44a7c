"""Code extraction from model answers and fitting it to the selection."""

from __future__ import annotations

import pytest

from bytebuddy_ls.prompting.extract import (
    adapt_to_selection,
    code_for_selection,
    extract_code,
    fenced_blocks,
    reindent,
)
from bytebuddy_ls.prompting.lines import detect_indent_unit

# ---------------------------------------------------------------------------
# extract_code


def test_fenced_block_with_surrounding_prose() -> None:
    answer = (
        "Here is the fixed function:\n\n"
        "```python\n"
        "def add(a, b):\n"
        "    return a + b\n"
        "```\n\n"
        "I changed the operator from `-` to `+`."
    )
    assert extract_code(answer, language="python") == "def add(a, b):\n    return a + b"


def test_prefers_the_block_in_the_documents_language() -> None:
    answer = (
        "Install it first:\n```bash\npip install requests\n```\n"
        "Then:\n```py\nimport requests\n```\n"
    )
    assert extract_code(answer, language="python") == "import requests"


def test_prefers_the_largest_block_among_equals() -> None:
    answer = "```js\nlet a;\n```\ntext\n```js\nlet b = 1;\nlet c = 2;\n```\n"
    assert extract_code(answer, language="javascript") == "let b = 1;\nlet c = 2;"


def test_untagged_block_beats_a_foreign_language_block() -> None:
    answer = "```console\n$ run\nok\n```\n```\nfn main() {}\n```\n"
    assert extract_code(answer, language="rust") == "fn main() {}"


def test_language_aliases_match() -> None:
    answer = "```tsx\nconst A = () => <div/>;\n```\n```ts\nx;\n```"
    assert extract_code(answer, language="typescriptreact") == "const A = () => <div/>;"


def test_tilde_fences_and_info_with_path() -> None:
    assert extract_code("~~~ruby\nputs 1\n~~~\n", language="ruby") == "puts 1"
    assert extract_code("```python:src/app.py\nx = 1\n```", language="python") == "x = 1"


def test_unterminated_fence_from_a_truncated_answer() -> None:
    answer = "Sure:\n```python\ndef f():\n    return 1\n``"
    assert extract_code(answer, language="python") == "def f():\n    return 1"
    assert extract_code("```go\nfunc f() {}\n", language="go") == "func f() {}"


def test_longer_outer_fence_keeps_inner_fences() -> None:
    answer = "````markdown\n# Title\n```python\nx = 1\n```\n````\n"
    assert extract_code(answer, language="markdown") == "# Title\n```python\nx = 1\n```"


def test_crlf_answer() -> None:
    answer = "```c\r\nint x;\r\n```\r\n"
    assert extract_code(answer, language="c") == "int x;"


def test_prose_only_answer_gives_none() -> None:
    answer = (
        "I cannot change this code without more context.\n"
        "Please tell me which framework you are using and what the error is."
    )
    assert extract_code(answer, language="python") is None
    assert extract_code("", language="python") is None
    assert extract_code("```python\n\n```", language="python") is None


def test_unfenced_code_is_kept_and_lead_in_prose_dropped() -> None:
    answer = "Here is the updated code:\n\ndef f(x):\n    return x + 1\n"
    assert extract_code(answer, language="python") == "def f(x):\n    return x + 1"


def test_unfenced_code_with_comments_is_code() -> None:
    code = "# Compute the total of the list\ntotal = sum(values)"
    assert extract_code(code, language="python") == code


def test_fenced_blocks_reports_termination() -> None:
    blocks = fenced_blocks("```js\na\n```\n```py\nb")
    assert [(b.tag, b.code, b.terminated) for b in blocks] == [
        ("js", "a", True),
        ("py", "b", False),
    ]


# ---------------------------------------------------------------------------
# reindent / detect_indent_unit


def test_reindent_moves_code_to_the_target_keeping_relative_depth() -> None:
    code = "def f():\n    if x:\n        return 1\n\n    return 2"
    assert reindent(code, "    ") == (
        "    def f():\n        if x:\n            return 1\n\n        return 2"
    )


def test_reindent_removes_common_indent_first() -> None:
    assert reindent("        a\n            b", "  ") == "  a\n      b"


def test_reindent_converts_spaces_to_the_documents_tabs() -> None:
    assert reindent("if x:\n    y()\n        z()", "\t") == "\tif x:\n\t\ty()\n\t\t\tz()"


def test_reindent_converts_tabs_to_the_documents_spaces() -> None:
    assert reindent("if x {\n\ty()\n}", "  ", indent_unit="  ") == "  if x {\n    y()\n  }"


def test_reindent_can_leave_the_first_line() -> None:
    assert reindent("a\n  b", "    ", indent_first_line=False) == "a\n      b"


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("def f():\n    return 1\n", "    "),
        ("if (x) {\n  y();\n}\n", "  "),
        ("func f() {\n\treturn\n}\n", "\t"),
        ("flat\ntext\n", "    "),
    ],
)
def test_detect_indent_unit(text: str, unit: str) -> None:
    assert detect_indent_unit(text) == unit


# ---------------------------------------------------------------------------
# adapt_to_selection


def test_whole_line_selection_gets_its_indentation_and_trailing_newline() -> None:
    selection = "    def f():\n        return 1\n"
    code = "def f():\n    return 2"
    assert adapt_to_selection(code, selection) == "    def f():\n        return 2\n"


def test_no_trailing_newline_when_the_selection_had_none() -> None:
    assert adapt_to_selection("x = 2\n", "    x = 1", line_prefix="") == "    x = 2"


def test_selection_starting_after_the_indentation() -> None:
    selection = "def f():\n        return 1\n"
    document = "class A:\n    def f():\n        return 1\n"
    relative = adapt_to_selection(
        "def f():\n    return 2", selection, line_prefix="    ", document=document
    )
    mirrored = adapt_to_selection(
        "def f():\n        return 2", selection, line_prefix="    ", document=document
    )
    assert relative == "def f():\n        return 2\n"
    assert mirrored == relative


def test_selection_inside_a_line() -> None:
    assert adapt_to_selection("a * b", "a + b", line_prefix="    x = ") == "a * b"
    multi = adapt_to_selection("call(\n    a,\n)", "call(a)", line_prefix="    x = ")
    assert multi == "call(\n        a,\n    )"


def test_crlf_document_gets_crlf_and_tabs() -> None:
    document = "func f() {\r\n\tif x {\r\n\t\ty()\r\n\t}\r\n}\r\n"
    selection = "\tif x {\r\n\t\ty()\r\n\t}\r\n"
    code = "if x {\n    z()\n}"
    assert adapt_to_selection(code, selection, document=document) == (
        "\tif x {\r\n\t\tz()\r\n\t}\r\n"
    )


def test_code_for_selection_combines_extraction_and_fitting() -> None:
    answer = "Done:\n```python\ndef f():\n    return 2\n```"
    selection = "    def f():\n        return 1\n"
    assert code_for_selection(answer, selection=selection, language="python") == (
        "    def f():\n        return 2\n"
    )
    assert code_for_selection("I can't do that.", selection=selection) is None


def test_unfenced_keyword_code_is_not_mistaken_for_prose() -> None:
    assert extract_code("SELECT name FROM users", language="sql") == "SELECT name FROM users"
    assert extract_code("The query looks correct to me.", language="sql") is None
