from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bytebuddy_ls.config import (
    ConfigError,
    ConfigSourceKind,
    load_config_data,
    load_config_file,
    load_config_text,
)
from bytebuddy_ls.config.schema import ROUTER_BASE

SEED = Path(__file__).parent / "fixtures" / "seed"
ROOT = Path(__file__).parent.parent


def load(text: str):
    return load_config_text(text, "cfg.yaml", ConfigSourceKind.FLAG)


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text)
    return [str(d) for d in info.value.diagnostics]


@pytest.mark.parametrize("path", sorted(SEED.glob("*.yaml")), ids=lambda p: p.name)
def test_seed_examples_load_as_written(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_API_KEY", "hf_seedtokenseedtokenseed")
    loaded = load_config_file(path, ConfigSourceKind.USER)
    assert loaded.config.models
    assert all(m.unusable is None for m in loaded.config.models)
    assert not [w for w in loaded.warnings if "unknown key" in w.message]


def test_example_config_in_repo_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_exampletokenexampletoken")
    loaded = load_config_file(ROOT / "config.example.yaml", ConfigSourceKind.USER)
    roles = {r for m in loaded.config.models for r in m.roles}
    assert roles == {"chat", "edit", "apply", "autocomplete"}
    assert not loaded.warnings, [str(w) for w in loaded.warnings]


def test_legacy_api_base_maps_to_router_and_is_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """
models:
  - name: legacy-once
    provider: huggingfaceinferenceapi
    model: bigcode/starcoder
    apiBase: https://api-inference.huggingface.co/models/bigcode/starcoder
"""
    with caplog.at_level(logging.INFO, logger="bytebuddy_ls"):
        model = load(text).config.models[0]
        load(text)
    assert model.effective_api_base == ROUTER_BASE
    notes = [r for r in caplog.records if "retired serverless API" in r.getMessage()]
    assert len(notes) == 1


def test_endpoint_url_is_kept() -> None:
    url = "https://abc.us-east-1.aws.endpoints.huggingface.cloud"
    text = (
        "models:\n"
        f"  - {{name: e, provider: huggingfaceinferenceapi, model: x/y, apiBase: {url}/}}\n"
    )
    assert load(text).config.models[0].effective_api_base == url


def test_interpolation_both_syntaxes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "hf_interpolatedinterpolated")
    monkeypatch.setenv("MY_HOST", "127.0.0.1:9")
    text = """
models:
  - name: a
    provider: openai
    model: m
    apiKey: ${{ secrets.MY_KEY }}
    apiBase: http://${MY_HOST}/v1
"""
    model = load(text).config.models[0]
    assert model.apiKey is not None
    assert model.apiKey.get_secret_value() == "hf_interpolatedinterpolated"
    assert model.apiBase == "http://127.0.0.1:9/v1"


def test_missing_variable_disables_only_that_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    text = """
models:
  - name: broken
    provider: huggingfaceinferenceapi
    model: a/b
    apiKey: ${NOT_SET_ANYWHERE}
  - name: fine
    provider: huggingfaceinferenceapi
    model: c/d
"""
    loaded = load(text)
    broken, fine = loaded.config.models
    assert broken.unusable is not None
    assert "NOT_SET_ANYWHERE" in broken.unusable and "broken" in broken.unusable
    assert fine.unusable is None
    assert any("NOT_SET_ANYWHERE" in w.message and w.line == 3 for w in loaded.warnings)


def test_yaml_syntax_error_has_line_and_column() -> None:
    (error,) = errors_of("models:\n  - name: a\n    provider: [openai\n")
    assert error.startswith("cfg.yaml:4:1: YAML syntax error") or error.startswith("cfg.yaml:3:")


def test_schema_error_points_at_the_value() -> None:
    text = """models:
  - name: a
    provider: openai
    model: m
    defaultCompletionOptions:
      temperature: hot
"""
    (error,) = errors_of(text)
    assert error.startswith("cfg.yaml:6:20: models[0].defaultCompletionOptions.temperature")
    assert "(got str)" in error


def test_unknown_provider_suggests_closest() -> None:
    text = "models:\n  - name: a\n    provider: huggingface\n    model: m\n"
    (error,) = errors_of(text)
    assert error.startswith("cfg.yaml:3:15:")
    assert "unknown provider 'huggingface'" in error
    assert "did you mean 'huggingfaceinferenceapi'" in error
    (error,) = errors_of("models:\n  - name: a\n    provider: opnai\n    model: m\n")
    assert "did you mean 'openai'" in error


def test_missing_field_points_at_the_model() -> None:
    (error,) = errors_of("models:\n  - name: a\n    provider: openai\n")
    assert error.startswith("cfg.yaml:2:5:")
    assert "'model' is required in models.0" in error


def test_duplicate_names_and_empty_models() -> None:
    text = """models:
  - {name: a, provider: openai, model: m}
  - {name: a, provider: openai, model: n}
"""
    (error,) = errors_of(text)
    assert "duplicate model name 'a'" in error and "models[0] and models[1]" in error
    (error,) = errors_of("models: []\n")
    assert "'models' is empty" in error
    (error,) = errors_of("")
    assert "config is empty" in error
    (error,) = errors_of("- just\n- a list\n")
    assert "must be a mapping" in error


def test_wrong_types_are_clear() -> None:
    text = "models:\n  - name: a\n    provider: openai\n    model: m\n    roles: chat\n"
    assert load(text).config.models[0].roles == ("chat",)
    (error,) = errors_of(
        "models:\n  - name: a\n    provider: openai\n    model: m\n    requestOptions: 5\n"
    )
    assert error.startswith("cfg.yaml:5:21: models[0].requestOptions")


def test_unknown_keys_and_roles_are_warnings() -> None:
    text = """models:
  - name: a
    provider: openai
    model: m
    roles: [chat, rerank, embed]
    colour: blue
    defaultCompletionOptions:
      nucleus: 3
context:
  - provider: code
"""
    loaded = load(text)
    messages = {(w.line, w.column, w.message) for w in loaded.warnings}
    assert (6, 5, "unknown key 'colour' (ignored)") in messages
    assert (8, 7, "unknown key 'nucleus' (ignored)") in messages
    assert any(line == 5 and "role 'rerank'" in msg for line, _, msg in messages)
    assert any(line == 9 and "'context' is not used" in msg for line, _, msg in messages)
    assert loaded.config.models[0].roles == ("chat", "embed")


def test_context_settings_are_read_and_checked() -> None:
    loaded = load(
        "models:\n  - {name: a, provider: openai, model: m}\n"
        "context: {enabled: true, maxTokens: 512, exclude: ['dist/'], embeddings: off}\n"
    )
    assert loaded.config.context.maxTokens == 512
    assert loaded.config.context.exclude == ["dist/"]
    assert loaded.config.context.embeddings == "off"
    with pytest.raises(ConfigError) as info:
        load("models:\n  - {name: a, provider: openai, model: m}\ncontext: {maxTokens: -1}\n")
    assert info.value.diagnostics[0].line == 3


def test_secrets_never_printed_by_repr() -> None:
    secret = "hf_reprsecretreprsecret"
    loaded = load_config_data(
        {"models": [{"name": "a", "provider": "openai", "model": "m", "apiKey": secret}]},
        "inline",
        ConfigSourceKind.INLINE,
    )
    assert secret not in repr(loaded)
    assert secret not in str(loaded.config.models[0])
    assert secret not in loaded.config.model_dump_json()


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config_file(tmp_path / "nope.yaml", ConfigSourceKind.FLAG)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00models")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config_file(binary, ConfigSourceKind.FLAG)
