"""Where a credential may travel, checked again on every request (the rules themselves
live in ``config.trust``).

An untrusted workspace config is loaded without interpolation, custom headers or
ambient tokens, and only with ``https://`` servers; the only credential it can carry is
a literal ``apiKey`` written in the file itself. This guard refuses a request that would
still send a credential from such a config in clear text (never expected: a last line).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.loader import LoadedConfig, trust_hint
from ..config.schema import ModelConfig
from ..config.trust import is_loopback_host

_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "session")


@dataclass(frozen=True)
class HostPolicy:
    """Built from the active config: whether it is trusted, and how to trust it."""

    trusted: bool = True
    origin: str = ""
    hint: str = ""

    @classmethod
    def for_config(cls, loaded: LoadedConfig) -> HostPolicy:
        return cls(loaded.trusted, loaded.origin, trust_hint(loaded.origin, loaded.path))

    @property
    def restricted(self) -> bool:
        """An untrusted workspace config: its proxy/CA settings are ignored (see
        ``transport``), so it cannot route anything through a host of its choosing."""
        return not self.trusted

    def refusal(self, model: ModelConfig, url: str, sends_credentials: bool) -> str | None:
        """Why this request must not be sent, or None when it may."""
        if (self.trusted and model.trusted) or not sends_credentials:
            return None
        parts = urlsplit(url)
        if parts.scheme == "https" or is_loopback_host(parts.hostname):
            return None
        where = self.origin or "an untrusted workspace config"
        return (
            f"Model '{model.name}': refusing to send a credential to {parts.hostname} over "
            f"{parts.scheme or 'an unknown scheme'}: the model comes from {where}, which is "
            f"not trusted; {self.hint or 'trust it first'}."
        )


def has_credential_headers(model: ModelConfig) -> bool:
    return any(
        value and any(word in name.lower() for word in _SECRET_HEADER_WORDS)
        for name, value in model.requestOptions.headers.items()
    )
