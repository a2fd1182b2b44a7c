"""Where a secret may travel: the workspace-secret rule (issue 3 §8).

A config that comes with a repository (``<root>/.bytebuddy/config.yaml``) could point
``apiBase`` at an attacker's host and interpolate ``${HF_TOKEN}`` (or any other
variable) into ``apiKey`` or a header. So a workspace config may send credentials only
to Hugging Face hosts (``huggingface.co``, ``*.huggingface.co``,
``*.endpoints.huggingface.cloud``) or loopback; any other host must be listed in
``allowedApiHosts`` of the user's own config (``~/.bytebuddy/config.yaml``) — the
workspace config cannot allow hosts for itself. Configs the user chose (``--config``,
``$BYTEBUDDY_CONFIG``, their own file, editor settings) are trusted.

Requests without any credential are not restricted: nothing secret leaves the machine.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

from ..config.discovery import user_config_path
from ..config.loader import ConfigSourceKind, LoadedConfig
from ..config.schema import ModelConfig
from ..config.tokens import is_hf_host, is_loopback_host
from ..log import logger

_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "session")
RESTRICTED_KINDS = frozenset({ConfigSourceKind.WORKSPACE})


def _normalise_host(entry: str) -> str:
    entry = entry.strip().lower()
    if "://" in entry:
        entry = urlsplit(entry).hostname or ""
    elif "/" in entry:
        entry = entry.split("/", 1)[0]
    if entry.count(":") == 1:  # host:port (IPv6 literals have more colons)
        entry = entry.split(":", 1)[0]
    return entry.strip("[]").rstrip(".")


@dataclass(frozen=True)
class HostPolicy:
    """Built from the active config's source kind and the user's ``allowedApiHosts``."""

    source_kind: ConfigSourceKind | None = None
    allowed_hosts: tuple[str, ...] = ()
    origin: str = ""  # shown in the refusal message

    @classmethod
    def for_config(
        cls, loaded: LoadedConfig, *, user_allowed_hosts: Iterable[str] | None = None
    ) -> HostPolicy:
        """The policy for ``loaded``. For a workspace config the allow-list comes from the
        user's own config file (read here unless ``user_allowed_hosts`` is given)."""
        if loaded.kind in RESTRICTED_KINDS:
            hosts = (
                list(user_allowed_hosts)
                if user_allowed_hosts is not None
                else _user_config_allowed_hosts()
            )
        else:
            hosts = list(loaded.config.allowedApiHosts)
        return cls(loaded.kind, tuple(_normalise_host(h) for h in hosts if h), loaded.origin)

    @property
    def restricted(self) -> bool:
        return self.source_kind in RESTRICTED_KINDS

    def host_allowed(self, host: str | None) -> bool:
        if not self.restricted:
            return True
        host = _normalise_host(host or "")
        if is_hf_host(host) or is_loopback_host(host):
            return True
        return any(
            host == pattern or fnmatch.fnmatchcase(host, pattern) for pattern in self.allowed_hosts
        )

    def refusal(self, model: ModelConfig, url: str, sends_credentials: bool) -> str | None:
        """Why this request must not be sent, or None when it may."""
        if not sends_credentials:
            return None
        host = urlsplit(url).hostname
        if self.host_allowed(host):
            return None
        where = self.origin or "the workspace config"
        return (
            f"Model '{model.name}': refusing to send its API key to {host}: the model comes from "
            f"{where}, a workspace config, which may send credentials only to Hugging Face "
            f"hosts or localhost. If you trust {host}, add it to allowedApiHosts in "
            f"~/.bytebuddy/config.yaml (or pass the config with --config)."
        )


def has_credential_headers(model: ModelConfig) -> bool:
    return any(
        value and any(word in name.lower() for word in _SECRET_HEADER_WORDS)
        for name, value in model.requestOptions.headers.items()
    )


def _user_config_allowed_hosts() -> list[str]:
    # Read the key directly: the user's file need not be a complete, valid config.
    path = user_config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        logger.warning("cannot read allowedApiHosts from %s: %s", path, exc)
        return []
    hosts = data.get("allowedApiHosts") if isinstance(data, dict) else None
    return [str(h) for h in hosts] if isinstance(hosts, list) else []
