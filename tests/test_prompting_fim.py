"""FIM families, prompt kinds, templates and chat-answer extraction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bytebuddy_ls.prompting.fim import (
    FIM_FAMILIES,
    HOLE_MARKER,
    build_autocomplete_prompt,
    extract_chat_completion,
    family_for,
    is_chat_model,
    render_fim_template,
    special_tokens_for,
)

P = "def add(a, b):\n    "
S = "\n\nprint(add(1, 2))\n"

# Full-width vertical bars (U+FF5C) and LOWER ONE EIGHTH BLOCK (U+2581), spelled out.
DEEPSEEK = (
    f"<\uff5cfim\u2581begin\uff5c>{P}<\uff5cfim\u2581hole\uff5c>{S}<\uff5cfim\u2581end\uff5c>"
)

# The anchors table, byte for byte (prefix P, suffix S).
EXPECTED_PROMPTS = {
    "bigcode/starcoder": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
    "bigcode/starcoder2-15b": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
    "bigcode/starcoderbase-1b": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
    "bigcode/santacoder": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
    "stabilityai/stable-code-3b": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
    "Qwen/CodeQwen1.5-7B": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
    "Qwen/Qwen2.5-Coder-7B": f"<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>",
    "Qwen/Qwen2.5-Coder-32B-Instruct:nebius": f"<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>",
    "Qwen/Qwen3-Coder-30B-A3B-Instruct": f"<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>",
    "google/codegemma-2b": f"<|fim_prefix|>{P}<|fim_suffix|>{S}<|fim_middle|>",
    "codellama/CodeLlama-7b-hf": f"<PRE> {P} <SUF>{S} <MID>",
    "deepseek-ai/deepseek-coder-6.7b-base": DEEPSEEK,
    "deepseek-ai/DeepSeek-Coder-V2-Lite-Base": DEEPSEEK,
    "mistralai/Codestral-22B-v0.1": f"[SUFFIX]{S}[PREFIX]{P}",
    "ibm-granite/granite-3b-code-base-2k": f"<fim_prefix>{P}<fim_suffix>{S}<fim_middle>",
}

EXPECTED_STOPS = {
    "starcoder": {"<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"},
    "qwen-coder": {
        "<|endoftext|>",
        "<|fim_pad|>",
        "<|file_sep|>",
        "<|im_end|>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
    },
    "codegemma": {
        "<|file_separator|>",
        "<end_of_turn>",
        "<eos>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
    },
    "codellama": {"<EOT>", "<PRE>", "<SUF>", "<MID>"},
    "deepseek-coder": {
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<|EOT|>",
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
    },
    "codestral": {"[PREFIX]", "[SUFFIX]"},
    "granite-code": {"<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"},
}


@pytest.mark.parametrize(("model_id", "expected"), sorted(EXPECTED_PROMPTS.items()))
def test_family_prompt_matches_the_table_byte_for_byte(model_id: str, expected: str) -> None:
    prompt = build_autocomplete_prompt(model_id, P, S, filename=None, language="python")
    assert prompt.kind == "fim"
    assert prompt.prompt.encode("utf-8") == expected.encode("utf-8")
    assert prompt.family is not None
    assert set(prompt.stop) == EXPECTED_STOPS[prompt.family]
    assert prompt.messages == []


def test_every_family_is_covered_by_the_expected_stops() -> None:
    assert {f.name for f in FIM_FAMILIES} == set(EXPECTED_STOPS)


def test_stop_lists_put_eos_last_for_four_stop_servers() -> None:
    for family in FIM_FAMILIES:
        if "<|endoftext|>" in family.stop:
            assert family.stop.index("<|endoftext|>") >= min(3, len(family.stop) - 1)


def test_deepseek_uses_fullwidth_bars_and_lower_one_eighth_block() -> None:
    prompt = build_autocomplete_prompt(
        "deepseek-ai/deepseek-coder-1.3b-base", "a", "b", filename=None, language=None
    )
    assert "\uff5c" in prompt.prompt and "\u2581" in prompt.prompt
    assert "|fim" not in prompt.prompt and "fim_" not in prompt.prompt


def test_codellama_spaces_are_exact() -> None:
    prompt = build_autocomplete_prompt(
        "codellama/CodeLlama-13b-hf", "x", "y", filename="a.py", language="python"
    )
    assert prompt.prompt == "<PRE> x <SUF>y <MID>"


def test_qwen_gets_a_file_header_and_repo_name() -> None:
    prompt = build_autocomplete_prompt(
        "Qwen/Qwen2.5-Coder-1.5B", "a", "b", filename="src/app.py", language="python"
    )
    assert prompt.prompt == "<|file_sep|>src/app.py\n<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    with_repo = build_autocomplete_prompt(
        "Qwen/Qwen2.5-Coder-1.5B", "a", "b", filename="src/app.py", language=None, repo_name="demo"
    )
    assert with_repo.prompt.startswith("<|repo_name|>demo\n<|file_sep|>src/app.py\n<|fim_prefix|>")


def test_starcoder2_gets_no_header() -> None:
    prompt = build_autocomplete_prompt(
        "bigcode/starcoder2-3b", "a", "b", filename="src/app.py", language="python"
    )
    assert prompt.prompt == "<fim_prefix>a<fim_suffix>b<fim_middle>"


def test_prefix_markers_inside_code_are_not_substituted_twice() -> None:
    tricky = "x = '<fim_suffix>{{suffix}}\x00suffix'"
    prompt = build_autocomplete_prompt(
        "bigcode/starcoder2-3b", tricky, "S", filename=None, language=None
    )
    assert prompt.prompt == f"<fim_prefix>{tricky}<fim_suffix>S<fim_middle>"


@pytest.mark.parametrize(
    "model_id",
    [
        "meta-llama/Llama-3.1-8B-Instruct",
        "mistralai/Mistral-7B-Instruct-v0.3",
        "HuggingFaceH4/zephyr-7b-beta",
        "google/gemma-2-9b-it",
        "openai/gpt-oss-20b",
        "deepseek-ai/DeepSeek-V3-0324",
        "Qwen/Qwen3-8B",
        "moonshotai/Kimi-K2-Instruct",
        "HuggingFaceTB/SmolLM3-3B-chat",
    ],
)
def test_chat_models_get_a_hole_filling_chat_prompt(model_id: str) -> None:
    prompt = build_autocomplete_prompt(model_id, "x = fo", "\n", filename="m.py", language="python")
    assert is_chat_model(model_id)
    assert prompt.kind == "chat" and prompt.prompt == "" and prompt.family is None
    roles = [role for role, _ in prompt.messages]
    assert roles[0] == "system" and roles[-1] == "user"
    last = prompt.messages[-1][1]
    assert f"x = fo{HOLE_MARKER}\n" in last and "m.py (python)" in last
    assert "<COMPLETION>" in prompt.messages[0][1]
    assert prompt.stop == ("</COMPLETION>",)


@pytest.mark.parametrize(
    "model_id",
    [
        "gpt2",
        "EleutherAI/pythia-1b",
        "meta-llama/Meta-Llama-3-8B",
        "Qwen/Qwen3-8B-Base",
        "mistralai/Mistral-7B-v0.3",
    ],
)
def test_other_models_get_prefix_only(model_id: str) -> None:
    prompt = build_autocomplete_prompt(model_id, "def f(", ")", filename="a.py", language="python")
    assert prompt.kind == "prefix" and prompt.prompt == "def f(" and prompt.family is None


def test_chat_only_transport_forces_the_chat_prompt_even_for_fim_models() -> None:
    prompt = build_autocomplete_prompt(
        "Qwen/Qwen2.5-Coder-32B-Instruct", "a", "b", filename=None, language=None, chat_only=True
    )
    assert prompt.kind == "chat"
    assert f"a{HOLE_MARKER}b" in prompt.messages[-1][1]


def test_family_matching_is_case_insensitive_and_ordered() -> None:
    assert family_for("BIGCODE/STARCODER2-7B") is not None
    codeqwen = family_for("qwen/codeqwen1.5-7b")
    assert codeqwen is not None and codeqwen.name == "starcoder"
    qwen = family_for("Qwen/Qwen2.5-Coder-7B")
    assert qwen is not None and qwen.name == "qwen-coder"
    assert family_for("HuggingFaceH4/starchat-beta") is None
    assert family_for("ibm-granite/granite-3.3-8b-instruct") is None


def test_template_overrides_the_table_both_brace_forms() -> None:
    template = (
        "<fim_prefix>{{{filename}}} {{ language }}\n{{{prefix}}}<fim_suffix>{{suffix}}<fim_middle>"
    )
    prompt = build_autocomplete_prompt(
        "my-org/custom-model", "A<b>&", "C", filename="x.py", language="python", template=template
    )
    assert prompt.kind == "fim"
    assert prompt.prompt == "<fim_prefix>x.py python\nA<b>&<fim_suffix>C<fim_middle>"
    assert set(prompt.stop) >= {"<fim_prefix>", "<fim_suffix>", "<fim_middle>"}


def test_template_without_suffix_is_prefix_kind_and_keeps_family_stops() -> None:
    prompt = build_autocomplete_prompt(
        "bigcode/starcoder2-3b",
        "A",
        "C",
        filename=None,
        language=None,
        template="# {{filename}}\n{{{prefix}}}",
    )
    assert prompt.kind == "prefix" and prompt.prompt == "# \nA"
    assert prompt.family == "starcoder" and "<file_sep>" in prompt.stop


def test_template_is_single_pass_and_leaves_unknown_variables() -> None:
    rendered = render_fim_template(
        "{{prefix}}|{{suffix}}|{{unknown}}",
        prefix="{{suffix}}",
        suffix="s",
        filename=None,
        language=None,
    )
    assert rendered == "{{suffix}}|s|{{unknown}}"


def test_special_tokens_cover_family_template_and_generic_tokens() -> None:
    tokens = special_tokens_for("Qwen/Qwen2.5-Coder-7B")
    assert {"<|fim_prefix|>", "<|repo_name|>", "<|file_sep|>", "<|endoftext|>"} <= set(tokens)
    assert "</COMPLETION>" in tokens
    custom = special_tokens_for("x/y", template="[SUFFIX]{{suffix}}[PREFIX]{{prefix}}")
    assert {"[SUFFIX]", "[PREFIX]"} <= set(custom)
    assert "</s>" not in tokens  # an HTML tag, never stripped
    assert "" not in tokens


# --- chat answers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("<COMPLETION>n % 2 == 0</COMPLETION>", "n % 2 == 0"),
        ("<COMPLETION>n % 2 == 0", "n % 2 == 0"),  # closing tag cut by the stop sequence
        (
            "Sure! Here it is:\n<COMPLETION>\n    return x\n</COMPLETION>\nHope it helps.",
            "    return x",
        ),
        ("```python\nreturn a + b\n```\nThis adds the numbers.", "return a + b"),
        ("Here is the completion:\nreturn a + b", "return a + b"),
        ("<think>the user wants a sum</think><COMPLETION>a + b</COMPLETION>", "a + b"),
        ("<think>still thinking about it", ""),
        ("<COMPLETION></COMPLETION>", ""),
        ("return a + b</COMPLETION>", "return a + b"),
        ("<completion>漢字😀</completion>", "漢字😀"),
    ],
)
def test_extract_chat_completion(answer: str, expected: str) -> None:
    assert extract_chat_completion(answer) == expected


def test_extract_removes_a_rewritten_cursor_line() -> None:
    prefix = "def f(a, b):\n    result = compute("
    assert (
        extract_chat_completion("<COMPLETION>result = compute(a, b)</COMPLETION>", prefix=prefix)
        == "a, b)"
    )
    assert extract_chat_completion("<COMPLETION>a, b)</COMPLETION>", prefix=prefix) == "a, b)"


@given(st.text(max_size=200), st.text(max_size=50))
def test_extract_never_raises_and_never_returns_the_tags(answer: str, prefix: str) -> None:
    result = extract_chat_completion(answer, prefix=prefix)
    assert "<COMPLETION>" not in result.upper() and "</COMPLETION>" not in result.upper()
    assert HOLE_MARKER not in result


def test_extract_drops_stray_tags_and_markers() -> None:
    assert extract_chat_completion("<COMPLETION>a<COMPLETION>b{{HOLE}}") == "ab"
    assert extract_chat_completion("<COMPLETION>x<COMPL<COMPLETION>ETION>") == "x"
    assert extract_chat_completion("<COMPLETION>{{HO{{HOLE}}LE}}y") == "y"
