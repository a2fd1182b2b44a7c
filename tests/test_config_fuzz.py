"""Config loader robustness beyond ``test_config_property.py`` (random text and random
data): schema-shaped YAML with one wrong field must fail with ConfigError *at that
field's line*; valid schema-shaped YAML must load; byte-level mutations of a valid file
and odd files (not UTF-8, BOM, a directory, missing, huge) only ever raise ConfigError,
always with a location inside the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytebuddy_ls.config import ConfigError, ConfigSourceKind, load_config_file, load_config_text

ORIGIN = "fuzz.yaml"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----- schema-shaped valid configs ------------------------------------------------------

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=10)
options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "maxTokens": st.integers(1, 32768),
        "topP": st.floats(0.01, 1),
        "topK": st.integers(1, 100),
        "repetitionPenalty": st.floats(0.1, 3),
        "stop": st.lists(st.text(alphabet="\n;#}x ", min_size=1, max_size=3), max_size=4),
        "contextLength": st.integers(1, 200_000),
    },
)
request_options = st.fixed_dictionaries(
    {},
    optional={
        "timeout": st.floats(0.5, 3600),
        "headers": st.dictionaries(names, names, max_size=2),
        "verifySsl": st.booleans(),
    },
)
templates = st.fixed_dictionaries(
    {},
    optional={
        "autocomplete": st.just("<fim_prefix>{{prefix}}<fim_suffix>{{suffix}}<fim_middle>"),
        "chat": st.text(max_size=20),
    },
)
model = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(
            ["huggingfaceinferenceapi", "huggingface-tgi", "openai", "huggingface-inference-api"]
        ),
        "model": st.sampled_from(["bigcode/starcoder2-3b", "Qwen/Qwen2.5-Coder-7B:fastest", "m"]),
    },
    optional={
        "apiKey": names,
        "apiBase": st.sampled_from(["http://127.0.0.1:8080", "https://router.huggingface.co"]),
        "roles": st.lists(st.sampled_from(["chat", "edit", "apply", "autocomplete"]), min_size=1),
        "defaultCompletionOptions": options,
        "requestOptions": request_options,
        "promptTemplates": templates,
    },
)
configs = st.lists(model, min_size=1, max_size=3).map(
    lambda models: {"models": [{"name": f"m{i}", **m} for i, m in enumerate(models)]}
)

# A field and a value the schema must refuse.
CORRUPTIONS: list[tuple[tuple[str, ...], Any]] = [
    (("provider",), "no-such-provider"),
    (("provider",), 12),
    (("model",), ""),
    (("roles",), {"a": 1}),
    (("defaultCompletionOptions", "temperature"), "hot"),
    (("defaultCompletionOptions", "temperature"), 9),
    (("defaultCompletionOptions", "maxTokens"), 0),
    (("defaultCompletionOptions", "topP"), 1.5),
    (("defaultCompletionOptions", "stop"), {"a": 1}),
    (("requestOptions", "timeout"), -1),
    (("requestOptions", "headers"), ["x"]),
    (("requestOptions", "verifySsl"), "perhaps"),
    (("promptTemplates", "chat"), ["not", "text"]),
    (("apiKey",), {"nested": "map"}),
]


def _dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _line_of(text: str, model_index: int, path: tuple[str, ...]) -> int:
    """1-based line of ``path``'s last key inside model ``model_index``."""
    lines = text.splitlines()
    line = next(i for i, x in enumerate(lines) if x.strip() == f"- name: m{model_index}")
    for key in path:
        line = next(i for i in range(line, len(lines)) if lines[i].strip().startswith(f"{key}:"))
    return line + 1


def _assert_located(exc: ConfigError, text: str, origin: str = ORIGIN) -> None:
    assert exc.diagnostics
    count = max(1, len(text.splitlines()))
    for d in exc.diagnostics:
        assert d.origin == origin
        assert 1 <= d.line <= count + 1, (d, count)
        assert d.column >= 1
        assert d.message
        assert str(d).startswith(f"{origin}:{d.line}:{d.column}: ")


@FAST
@given(configs)
def test_valid_schema_shaped_yaml_loads(config: dict[str, Any]) -> None:
    loaded = load_config_text(_dump(config), ORIGIN, ConfigSourceKind.FLAG)
    assert [m.name for m in loaded.config.models] == [m["name"] for m in config["models"]]


@FAST
@given(configs, st.data())
def test_one_wrong_field_is_reported_at_its_line(config: dict[str, Any], data: Any) -> None:
    index = data.draw(st.integers(0, len(config["models"]) - 1))
    path, value = data.draw(st.sampled_from(CORRUPTIONS))
    target = config["models"][index]
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    text = _dump(config)
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, ORIGIN, ConfigSourceKind.FLAG)
    _assert_located(caught.value, text)
    expected = _line_of(text, index, path)
    lines = {d.line for d in caught.value.diagnostics}
    # The value may sit on the key's line or, for a block list/map, just below it.
    assert lines & {expected, expected + 1}, (expected, caught.value.diagnostics, text)


VALID = """\
models:
  - name: code
    provider: huggingface-tgi
    model: bigcode/starcoder2-3b
    apiBase: http://127.0.0.1:8080
    apiKey: ${HF_TOKEN}
    roles: [autocomplete]
    defaultCompletionOptions: {temperature: 0.2, maxTokens: 64, stop: ["\\n\\n"]}
  - name: chat
    provider: openai
    model: m
    roles:
      - chat
      - edit
    requestOptions:
      timeout: 30
      headers: {X-Title: demo}
prompts:
  - name: Tidy
    description: tidy
    prompt: Tidy this.
"""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_file_only_raises_located_config_error(data: Any) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["delete", "insert", "duplicate-line", "indent"]))
        if kind == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)) :]
        elif kind == "insert":
            piece = data.draw(st.sampled_from([*":-[]{}'\"&*!#|>\t\n ${}%@`,?", "😀"]))
            text = text[:at] + piece + text[at:]
        else:
            lines = text.split("\n")
            row = data.draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate-line":
                lines.insert(row, lines[row])
            else:
                lines[row] = "  " + lines[row]
            text = "\n".join(lines)
    try:
        load_config_text(text, ORIGIN, ConfigSourceKind.WORKSPACE)
    except ConfigError as exc:
        _assert_located(exc, text)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xef\xbb\xbf" + VALID.encode(),  # UTF-8 BOM
        b"models:\n  - name: \xff\xfe\n",  # not UTF-8
        b"\x00\x01\x02",
        VALID.encode("utf-16"),
        b"models: " + b"[" * 5000,  # deep nesting
        b"models:\n" + b"  - name: x\n    provider: openai\n    model: m\n" * 3000,  # duplicates
        b"a: &a [*a]\n",  # recursive alias
        b"models: !!python/object/apply:os.system ['echo pwned']\n",
    ],
    ids=["empty", "bom", "not-utf8", "binary", "utf16", "deep", "huge-dup", "alias", "tag"],
)
def test_odd_files_load_or_raise_located_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    try:
        load_config_file(path, ConfigSourceKind.FLAG)
    except ConfigError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.line >= 1 and d.column >= 1 and d.message
            assert str(path) in str(d) or d.origin == str(path)


@pytest.mark.parametrize("make", ["missing", "directory", "symlink-loop"])
def test_unusable_paths_raise_located_config_error(tmp_path: Path, make: str) -> None:
    path = tmp_path / "config.yaml"
    if make == "directory":
        path.mkdir()
    elif make == "symlink-loop":  # unreadable even for root (chmod 0 is not)
        path.symlink_to(path)
    with pytest.raises(ConfigError) as caught:
        load_config_file(path, ConfigSourceKind.FLAG)
    assert caught.value.diagnostics and all(d.line >= 1 for d in caught.value.diagnostics)


@FAST
@given(
    st.text(alphabet="abc${}: []\n'\"#&*\\", max_size=20),
    st.sampled_from(["${VALUE}", "${{ secrets.VALUE }}", "${MISSING_VAR_XYZ}", "${${VALUE}}"]),
)
def test_interpolated_values_never_break_the_loader(value: str, reference: str) -> None:
    text = (
        "models:\n  - name: a\n    provider: openai\n    model: m\n"
        f'    apiKey: "{reference}"\n    apiBase: {reference}\n'
    )
    old = os.environ.get("VALUE")
    os.environ["VALUE"] = value
    try:
        load_config_text(text, ORIGIN, ConfigSourceKind.FLAG)
    except ConfigError as exc:
        _assert_located(exc, text)
    finally:
        if old is None:
            os.environ.pop("VALUE", None)
        else:
            os.environ["VALUE"] = old
