"""The host rules of the trust model, table by table."""

from __future__ import annotations

import pytest

from bytebuddy_ls.config.trust import ambient_credentials_allowed, is_loopback_host


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True), ("127.8.9.10", True),
        ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
        ("127.evil.example", False), ("127.0.0.1.evil.example", False), ("localhost.evil", False),
        ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("127", False), ("", False),
        (None, False),
    ],
)  # fmt: skip
def test_loopback_is_parsed_not_prefixed(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://router.huggingface.co", True),
        ("https://huggingface.co/api", True),
        ("https://x1.us-east-1.aws.endpoints.huggingface.cloud", True),  # named by the config
        ("https://someone.hf.space", True),
        ("http://router.huggingface.co", False),  # never in clear text
        ("https://huggingface.co.evil.example", False),
        ("https://evilhuggingface.co", False),
        ("https://127.0.0.1:8080", False),
        ("https://collector.example", False),
    ],
)
def test_ambient_credentials_go_only_to_hugging_face_over_https(url: str, allowed: bool) -> None:
    assert ambient_credentials_allowed(url, trusted=True) is allowed
    assert ambient_credentials_allowed(url, trusted=False) is False
