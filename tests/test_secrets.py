from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bytebuddy_ls.config import ConfigSourceKind, load_config_text
from bytebuddy_ls.log import RedactingFormatter, redact, secrets


def test_registered_secrets_and_token_shapes_are_redacted() -> None:
    secrets.add("s3cr3t-value-xyz")
    text = redact(
        "key s3cr3t-value-xyz, hf_abcdefghijklmnopqrstu, Authorization: Bearer abc.def-ghi"
    )
    assert "s3cr3t-value-xyz" not in text
    assert "hf_abcdefghijklmnopqrstu" not in text
    assert "abc.def-ghi" not in text
    assert "[REDACTED]" in text


def test_config_secrets_are_redacted_in_log_records(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOME_TOKEN", "plain-looking-secret-42")
    loaded = load_config_text(
        "models:\n  - name: a\n    provider: openai\n    model: m\n"
        "    apiKey: ${SOME_TOKEN}\n"
        "    requestOptions: {headers: {X-Api-Key: header-secret-777}}\n",
        "c.yaml",
        ConfigSourceKind.FLAG,
    )
    record = logging.LogRecord(
        "bytebuddy_ls",
        logging.DEBUG,
        __file__,
        1,
        "sending %s with %s",
        (
            loaded.config.models[0].apiKey.get_secret_value(),  # type: ignore[union-attr]
            "header-secret-777",
        ),
        None,
    )
    line = RedactingFormatter("%(message)s").format(record)
    assert "plain-looking-secret-42" not in line
    assert "header-secret-777" not in line
