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
from typing import Any

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

    def add_url(self, url: str | None) -> None:
        """The secret parts of a URL: its userinfo and its query values."""
        if not url:
            return
        from urllib.parse import parse_qsl, quote, unquote, urlsplit  # not at start-up

        try:
            parts = urlsplit(url)
        except ValueError:
            return
        if parts.username:
            self.add(unquote(parts.username))
            self.add(parts.username)
        if parts.password:
            self.add(unquote(parts.password))
            self.add(parts.password)
        for _name, value in parse_qsl(parts.query, keep_blank_values=False):
            self.add(value)
            self.add(quote(value, safe=""))

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


def register_secret_values(value: Any, *, under_headers: bool = False) -> None:
    """Register the secrets of a raw config-shaped object from the client (an inline
    config in ``initializationOptions``): ``apiKey`` values, header values, ``apiBase``
    userinfo and query. Called before the object can reach any log line."""
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key).lower()
            if isinstance(item, str):
                if under_headers or name in ("apikey", "api_key", "token"):
                    secrets.add(item)
                elif name == "apibase":
                    secrets.add_url(item)
            else:
                register_secret_values(item, under_headers=name == "headers")
    elif isinstance(value, list):
        for item in value:
            register_secret_values(item)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _NoProtocolObjects(logging.Filter):
    """pygls logs whole protocol objects (``InitializeParams`` with an inline config and
    its ``apiKey``, client responses with settings) before the server has read, let alone
    registered, the secrets in them: log their type instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and record.name.split(".", 1)[0] == "pygls":
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_shown(arg) for arg in args)
        return True


_PROTOCOL_FILTER = _NoProtocolObjects()


def _shown(arg: Any) -> Any:
    if arg is None or isinstance(arg, (int, float, bool)):
        return arg
    if isinstance(arg, str):  # method names, and "Sending data: ..." (our own output)
        return arg
    return f"<{type(arg).__name__}>"


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
    handler.addFilter(_PROTOCOL_FILTER)
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
