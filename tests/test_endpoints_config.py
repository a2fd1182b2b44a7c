"""Config for Inference Endpoints: endpoint, warmup, idlePauseMinutes."""

from __future__ import annotations

import pytest

from bytebuddy_ls.config import ConfigError, ConfigSourceKind, ModelConfig, load_config_text

BASE = """models:
  - name: coder
    provider: huggingfaceinferenceapi
    model: bigcode/starcoder2-3b
"""


def load(extra: str) -> ModelConfig:
    return load_config_text(BASE + extra, "c.yaml", ConfigSourceKind.FLAG).config.models[0]


def test_endpoint_by_name_with_defaults() -> None:
    model = load("    endpoint: {name: my-coder, namespace: my-org}\n")
    assert model.endpoint is not None
    assert (model.endpoint.name, model.endpoint.namespace) == ("my-coder", "my-org")
    assert model.warmup == "off" and model.idlePauseMinutes is None


@pytest.mark.parametrize(
    ("value", "namespace", "name"),
    [("my-coder", None, "my-coder"), ("my-org/my-coder", "my-org", "my-coder")],
)
def test_endpoint_shorthand(value: str, namespace: str | None, name: str) -> None:
    endpoint = load(f"    endpoint: {value}\n").endpoint
    assert endpoint is not None and (endpoint.namespace, endpoint.name) == (namespace, name)


@pytest.mark.parametrize("spelling", ["onOpen", "onopen", "on-open", "ON_OPEN"])
def test_warmup_spellings(spelling: str) -> None:
    assert load(f"    warmup: {spelling}\n").warmup == "onOpen"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    endpoint: {name: My_Coder}\n", "is not an Inference Endpoint name"),
        ("    endpoint: {name: ok, namespace: '../x'}\n", "is not a user or organization"),
        ("    idlePauseMinutes: 30\n", "idlePauseMinutes pauses an Inference Endpoint"),
        ("    endpoint: x\n    idlePauseMinutes: 0\n", "greater than 0"),
        ("    warmup: always\n", "warmup"),
    ],
)
def test_bad_values_are_located_errors(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(extra)
    text = str(caught.value)
    assert message in text, text
    assert text.startswith("c.yaml:")
