"""Chat prompt assembly: templates, text formats, document context, history trimming."""

from __future__ import annotations

import pytest

from bytebuddy_ls.prompting.chat import (
    DEFAULT_CHAT_SYSTEM_PROMPT,
    AnswerStart,
    DocumentContext,
    build_chat_messages,
    chat_format_for,
    context_block,
    fence_for,
    fold_system_into_user,
    message_tokens,
    range_to_lines,
    render_chat_prompt,
    render_messages,
    trim_answer_start,
)
from bytebuddy_ls.prompting.templates import render_template, template_variables

# ---------------------------------------------------------------------------
# render_template


def test_double_and_triple_braces_insert_raw_values() -> None:
    template = "{{{userInput}}} | {{ language }} | {{{ codeToEdit }}}"
    values = {"userInput": "a < b & c", "language": "python", "codeToEdit": "x = '{{y}}'"}
    assert render_template(template, values) == "a < b & c | python | x = '{{y}}'"


def test_names_are_case_insensitive_and_unknown_ones_stay_visible() -> None:
    assert render_template("{{LANGUAGE}} {{nope}}", {"language": "go"}) == "go {{nope}}"


def test_sections() -> None:
    template = "{{#if prefix}}P={{prefix}}{{else}}no prefix{{/if}};{{#suffix}}S{{/suffix}}"
    assert render_template(template, {"prefix": "a", "suffix": ""}) == "P=a;"
    assert render_template(template, {"prefix": "", "suffix": "b"}) == "no prefix;S"
    assert render_template("{{^suffix}}none{{/suffix}}", {"suffix": ""}) == "none"
    nested = "{{#if a}}[{{#if b}}ab{{/if}}]{{/if}}"
    assert render_template(nested, {"a": "1", "b": "1"}) == "[ab]"
    assert render_template(nested, {"a": "1", "b": ""}) == "[]"


def test_template_variables() -> None:
    assert template_variables("{{{a}}} {{B}} {{#if c}}x{{/if}}") == {"a", "b", "c"}


# ---------------------------------------------------------------------------
# Text formats


CONVERSATION = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"), ("user", "Q?")]


def test_chatml_rendering_ends_with_an_open_assistant_turn() -> None:
    text = render_messages(CONVERSATION, "chatml")
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert text.endswith("<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n")


def test_inst_rendering_folds_the_system_prompt() -> None:
    text = render_messages(CONVERSATION, "mistral")
    assert text == "<s>[INST] Be brief.\n\nHi [/INST] Hello</s><s>[INST] Q? [/INST]"


def test_plain_is_the_fallback() -> None:
    assert render_messages([("user", "x")], "unknown-format") == "User: x\n\nAssistant:"


@pytest.mark.parametrize(
    ("model", "fmt"),
    [
        ("Qwen/Qwen2.5-Coder-32B-Instruct", "chatml"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama3"),
        ("codellama/CodeLlama-13b-Instruct-hf", "llama2"),
        ("google/gemma-2-9b-it", "gemma"),
        ("deepseek-ai/deepseek-coder-6.7b-instruct", "alpaca"),
        ("HuggingFaceH4/zephyr-7b-beta", "zephyr"),
        ("bigcode/starcoder2-15b", "plain"),
        (None, "plain"),
    ],
)
def test_chat_format_guess(model: str | None, fmt: str) -> None:
    assert chat_format_for(model) == fmt


def test_render_chat_prompt_with_a_format_name_or_a_template() -> None:
    assert render_chat_prompt(CONVERSATION, template="chatml").startswith("<|im_start|>system")
    text = render_chat_prompt(
        CONVERSATION, template="{{system}}\n---\n{{history}}\n---\n{{{userInput}}}\nA:"
    )
    assert text == "Be brief.\n---\nUser: Hi\n\nAssistant: Hello\n---\nQ?\nA:"
    guessed = render_chat_prompt(CONVERSATION, model_id="Qwen/Qwen2.5-7B-Instruct")
    assert guessed.endswith("<|im_start|>assistant\n")


def test_fold_system_into_user() -> None:
    assert fold_system_into_user(CONVERSATION)[0] == ("user", "Be brief.\n\nHi")
    assert fold_system_into_user([("system", "S")]) == [("user", "S")]


# ---------------------------------------------------------------------------
# Context


def test_range_to_lines() -> None:
    assert range_to_lines(2, 5, 0) == (2, 5)
    assert range_to_lines(2, 5, 3) == (2, 6)
    assert range_to_lines(4, 4, 0) == (4, 5)


def test_fence_is_longer_than_backticks_inside() -> None:
    assert fence_for("plain") == "```"
    assert fence_for("has ``` inside") == "````"


def test_small_file_is_included_whole() -> None:
    doc = DocumentContext("a = 1\nb = 2\n", path="src/m.py", language="python")
    block = context_block(doc)
    assert block == "File: `src/m.py` (python):\n```python\na = 1\nb = 2\n```"


def test_selection_shows_the_selected_lines_and_the_small_file() -> None:
    text = "".join(f"line{i}\n" for i in range(10))
    block = context_block(DocumentContext(text, path="f.txt", selection=(2, 4)))
    assert "Selected lines 3-4 of `f.txt`:\n```\nline2\nline3\n```" in block
    assert block.startswith("File: `f.txt`:")


def test_large_file_is_bounded_around_the_cursor_by_whole_lines() -> None:
    text = "".join(f"line number {i:05d}\n" for i in range(5000))
    block = context_block(DocumentContext(text, cursor_line=2500), max_bytes=2000)
    assert "line number 02500\n" in block
    assert "line number 00000" not in block
    assert len(block.encode()) < 2300
    assert "(lines " in block


def test_large_selection_is_cut_short() -> None:
    text = "".join(f"x{i} = {i}\n" for i in range(3000))
    block = context_block(DocumentContext(text, selection=(0, 3000)), max_bytes=500)
    assert "(cut short)" in block
    assert len(block.encode()) < 700


# ---------------------------------------------------------------------------
# build_chat_messages


def test_default_system_prompt_and_context_before_the_question() -> None:
    doc = DocumentContext("print(1)\n", path="a.py", language="python")
    messages = build_chat_messages([("user", "What does it print?")], document=doc)
    assert messages[0] == ("system", DEFAULT_CHAT_SYSTEM_PROMPT)
    role, content = messages[1]
    assert role == "user"
    assert content.startswith("File: `a.py` (python):\n```python\nprint(1)\n```")
    assert content.endswith("What does it print?")


def test_configured_and_client_system_prompts_merge() -> None:
    messages = build_chat_messages(
        [("system", "Answer in French."), ("user", "Hi")], system_prompt="You are terse."
    )
    assert messages == [("system", "You are terse.\n\nAnswer in French."), ("user", "Hi")]
    assert build_chat_messages([("user", "Hi")], system_prompt="") == [("user", "Hi")]


def test_history_is_trimmed_oldest_first_to_the_budget() -> None:
    history: list[tuple[str, str]] = []
    for i in range(20):
        history += [
            ("user", f"question {i} " + "x" * 300),
            ("assistant", f"answer {i} " + "y" * 300),
        ]
    history.append(("user", "latest question"))
    budget = 1000
    messages = build_chat_messages(history, budget_tokens=budget)
    assert sum(message_tokens(m) for m in messages) <= budget
    assert messages[0][0] == "system"
    assert messages[-1] == ("user", "latest question")
    assert messages[1][0] == "user"  # kept history starts with a user turn
    kept = [content for _, content in messages[1:-1]]
    assert kept and kept[-1].startswith("answer 19")  # the newest turns survive
    assert not any(content.startswith("question 0 ") for content in kept)


def test_system_and_latest_message_survive_a_tiny_budget() -> None:
    messages = build_chat_messages(
        [("user", "old"), ("assistant", "old answer"), ("user", "new " * 500)],
        budget_tokens=10,
    )
    assert [role for role, _ in messages] == ["system", "user"]
    assert messages[-1][1].startswith("new ")


def test_context_is_sized_from_the_budget() -> None:
    text = "".join(f"value_{i} = {i}\n" for i in range(20_000))
    doc = DocumentContext(text, path="big.py", language="python", cursor_line=100)
    messages = build_chat_messages([("user", "Explain")], document=doc, budget_tokens=2000)
    assert sum(message_tokens(m) for m in messages) <= 2000
    assert "value_100 = 100" in messages[-1][1]


def test_no_user_message_is_an_error() -> None:
    with pytest.raises(ValueError):
        build_chat_messages([("assistant", "hello")])


def test_answer_start_drops_leading_blank_lines_across_deltas() -> None:
    start = AnswerStart()
    shown = [start.feed(delta) for delta in ("\n", " \n", "  Hello", "\n", "world")]
    assert shown == ["", "", "  Hello", "\n", "world"]
    assert trim_answer_start("\r\n\nText\n") == "Text\n"
    assert trim_answer_start("    code()\n") == "    code()\n"
    assert trim_answer_start("\n \t\n") == ""
