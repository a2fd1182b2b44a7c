"""Edit and apply prompts, the built-in actions and config prompts as actions."""

from __future__ import annotations

import pytest

from bytebuddy_ls.config.schema import PromptConfig
from bytebuddy_ls.prompting.edit import (
    BUILTIN_ACTIONS,
    Action,
    ApplyRequest,
    EditRequest,
    action_from_prompt,
    action_request,
    all_actions,
    build_apply_messages,
    build_edit_messages,
    builtin_action,
    head_lines,
    path_for_tests,
    render_apply_prompt,
    render_edit_prompt,
    tail_lines,
)
from bytebuddy_ls.prompting.extract import extract_code

REQUEST = EditRequest(
    instruction="Use a list comprehension",
    code="    out = []\n    for x in xs:\n        out.append(x * 2)\n",
    language="python",
    path="src/calc.py",
    prefix="def double(xs):\n",
    suffix="    return out\n",
    diagnostics=("E501 line too long",),
)


# ---------------------------------------------------------------------------
# Actions


def test_builtin_actions_table() -> None:
    by_id = {action.id: action for action in BUILTIN_ACTIONS}
    assert set(by_id) == {"fix", "docstring", "refactor", "tests", "explain"}
    assert by_id["fix"].kind == "quickfix"
    assert by_id["fix"].needs_diagnostics
    assert by_id["refactor"].kind == "refactor.rewrite"
    assert by_id["tests"].result == "new_file"
    assert by_id["explain"].result == "chat"
    assert all(action.title.startswith("ByteBuddy: ") for action in BUILTIN_ACTIONS)
    assert all(action.instruction for action in BUILTIN_ACTIONS)
    assert builtin_action("refactor") is by_id["refactor"]
    assert builtin_action("nope") is None


def test_config_prompt_becomes_an_edit_action() -> None:
    entry = PromptConfig(name="Make Async!", description="to async/await", prompt=" Use async. ")
    action = action_from_prompt(entry)
    assert action == Action(
        id="prompt.make-async",
        title="ByteBuddy: Make Async! — to async/await",
        kind="refactor.rewrite",
        instruction="Use async.",
        result="edit",
    )
    plain = action_from_prompt(PromptConfig(name="Shorten", prompt="Shorter"))
    assert plain.title == "ByteBuddy: Shorten"


def test_all_actions_appends_unique_prompts() -> None:
    prompts = [PromptConfig(name="A", prompt="a"), PromptConfig(name="a", prompt="dup")]
    actions = all_actions(prompts)
    assert [a.id for a in actions][-1] == "prompt.a"
    assert len(actions) == len(BUILTIN_ACTIONS) + 1


@pytest.mark.parametrize(
    ("path", "language", "expected"),
    [
        ("src/calc.py", "python", "src/test_calc.py"),
        ("pkg/util.go", "go", "pkg/util_test.go"),
        ("web/app.tsx", "typescriptreact", "web/app.test.tsx"),
        ("lib/a.rb", "ruby", "lib/a_spec.rb"),
        ("Main.java", "java", "MainTest.java"),
        ("x/y.rs", "rust", "x/y_test.rs"),
    ],
)
def test_path_for_tests_convention(path: str, language: str, expected: str) -> None:
    assert path_for_tests(path, language) == expected


# ---------------------------------------------------------------------------
# Edit messages


def test_edit_messages_ask_for_only_the_rewritten_selection() -> None:
    system, user = build_edit_messages(REQUEST)
    assert system[0] == "system"
    assert "ONLY the rewritten selection" in system[1]
    assert user[0] == "user"
    text = user[1]
    assert "File: `src/calc.py` (python)" in text
    assert "Selected code:\n```python\n    out = []\n" in text
    assert "Code before the selection (context only):\n```python\ndef double(xs):\n```" in text
    assert "Code after the selection (context only):\n```python\n    return out\n```" in text
    assert "- E501 line too long" in text
    assert "Instruction: Use a list comprehension" in text
    assert text.endswith("in one ```python block.")


def test_empty_selection_asks_for_an_insertion() -> None:
    request = EditRequest(instruction="add logging", code="", language="go")
    text = build_edit_messages(request)[1][1]
    assert "Nothing is selected" in text
    assert "Selected code" not in text


def test_selection_with_backticks_gets_a_longer_fence() -> None:
    request = EditRequest(instruction="fix", code='doc = """```py\nx\n```"""\n', language="python")
    text = build_edit_messages(request)[1][1]
    assert "Selected code:\n````python\n" in text


def test_surrounding_text_is_bounded_by_whole_lines_nearest_the_selection() -> None:
    prefix = "".join(f"before {i}\n" for i in range(5000))
    suffix = "".join(f"after {i}\n" for i in range(5000))
    request = EditRequest(instruction="x", code="mid\n", prefix=prefix, suffix=suffix)
    text = build_edit_messages(request)[1][1]
    assert "before 4999\n" in text
    assert "before 0\n" not in text
    assert "after 0\n" in text
    assert "after 4999\n" not in text
    assert len(text) < 8_000
    assert tail_lines("a\nbb\nccc\n", 8) == "bb\nccc\n"
    assert head_lines("a\nbb\nccc\n", 5) == "a\nbb\n"


def test_actions_pick_their_system_prompt() -> None:
    tests = builtin_action("tests")
    explain = builtin_action("explain")
    assert tests is not None and explain is not None
    request = action_request(tests, code="def f(): pass\n", language="python")
    system, user = build_edit_messages(request, action=tests)
    assert "complete new file" in system[1]
    assert user[1].endswith("complete file in one fenced code block.")
    system, user = build_edit_messages(action_request(explain, code="x = 1\n"), action=explain)
    assert "explaining" in system[1]
    assert "fenced code block" not in user[1]


def test_custom_edit_system_prompt() -> None:
    assert build_edit_messages(REQUEST, system_prompt="Be careful.")[0] == (
        "system",
        "Be careful.",
    )


def test_edit_template_rendering_with_continue_style_variables() -> None:
    template = (
        "[{{{language}}}] {{filepath}}\n{{{prefix}}}<START>{{{codeToEdit}}}<END>"
        "{{{suffix}}}\nTask: {{{userInput}}}{{#if diagnostics}}\n{{diagnostics}}{{/if}}"
    )
    text = render_edit_prompt(REQUEST, template=template)
    assert text == (
        "[python] src/calc.py\ndef double(xs):\n<START>"
        "    out = []\n    for x in xs:\n        out.append(x * 2)\n<END>"
        "    return out\n\nTask: Use a list comprehension\n- E501 line too long"
    )


def test_edit_text_rendering_without_template_uses_the_model_format() -> None:
    text = render_edit_prompt(REQUEST, model_id="Qwen/Qwen2.5-Coder-7B-Instruct")
    assert text.startswith("<|im_start|>system\n")
    assert text.endswith("<|im_start|>assistant\n")
    plain = render_edit_prompt(REQUEST)
    assert plain.endswith("Assistant:")


def test_an_answer_in_the_requested_shape_extracts_cleanly() -> None:
    answer = "```python\n    out = [x * 2 for x in xs]\n```"
    assert extract_code(answer, language=REQUEST.language) == "    out = [x * 2 for x in xs]"


# ---------------------------------------------------------------------------
# Apply messages


DOCUMENT = "import os\n\n\ndef f():\n    a = 1\n    return a\n\n\ndef g():\n    return 2\n"


def test_apply_messages_for_the_whole_file() -> None:
    request = ApplyRequest(
        DOCUMENT,
        "def g():\n    # ... existing code ...\n    return 3\n",
        language="python",
        path="m.py",
    )
    system, user = build_apply_messages(request)
    assert "placeholder" in system[1]
    assert "ONLY the result" in system[1]
    assert user[1].startswith("The file `m.py` (python):\n```python\nimport os\n")
    assert "The change to apply:\n```python\ndef g():\n    # ... existing code ..." in user[1]
    assert user[1].endswith("Reply with the complete updated file in one fenced code block.")


def test_apply_messages_for_a_region() -> None:
    request = ApplyRequest(DOCUMENT, "def g():\n    # ...\n", language="python", region=(8, 10))
    text = build_apply_messages(request)[1][1]
    assert text.startswith("Lines 9-10 of an unsaved file (python):\n```python\ndef g():\n")
    assert "import os" not in text
    assert text.endswith("the complete updated lines 9-10 in one fenced code block.")


def test_apply_template_variables() -> None:
    request = ApplyRequest("a\nb\n", "b2\n", language="text", path="t.txt", region=(1, 2))
    template = "{{original_code}}|{{{newCode}}}|{{language}}|{{filepath}}"
    assert render_apply_prompt(request, template=template) == "b\n|b2\n|text|t.txt"
    assert render_apply_prompt(request, model_id="google/gemma-2-9b-it").endswith(
        "<start_of_turn>model\n"
    )
