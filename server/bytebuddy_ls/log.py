"""Logging with secrets redacted.

Every secret the server learns (API keys, token files, auth headers) is registered
here; every log record, status message and user-facing error passes through
``redact`` so that no secret reaches a log line, even at debug level.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from pathlib import Path

LOGGER_NAME = "bytebuddy_ls"
logger = logging.getLogger(LOGGER_NAME)

_REDACTED = "[REDACTED]"
# Shapes that are secrets whether or not we were told about them.
_SECRET_PATTERNS = (
    re.compile(r"\bhf_[A-Za-z0-9]{16,}\b"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
)


class SecretRegistry:
    """Known secret strings; thread-safe because pygls may log from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secret: str | None) -> None:
        # Very short values would redact ordinary words; real tokens are long.
        if secret and len(secret) >= 6:
            with self._lock:
                self._secrets = self._secrets | {secret}

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, _REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + _REDACTED, text)
        return text


secrets = SecretRegistry()


def redact(text: str) -> str:
    return secrets.redact(text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "info", log_file: str | None = None) -> None:
    """Log to stderr (never stdout: stdio is the LSP channel) or to ``log_file``."""
    handler: logging.Handler
    if log_file:
        Path(log_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(Path(log_file).expanduser(), encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = getattr(logging, level.upper(), logging.INFO)
    logger.setLevel(numeric)
    # pygls logs every message at debug; keep it at warning unless we debug.
    quiet = numeric if numeric <= logging.DEBUG else logging.WARNING
    # pygls logs every message and httpx every request at info: noise unless debugging.
    for chatty in ("pygls", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(quiet)
    root.setLevel(numeric)
