"""Where a model's token comes from: ``apiKey``, then ``HF_TOKEN``, ``HF_API_KEY``, then
the file ``huggingface-cli login`` writes. Only ``apiKey`` travels to non-HF hosts; the
ambient ones follow ``trust.ambient_credentials_allowed``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ..log import secrets
from .schema import ModelConfig
from .trust import ambient_credentials_allowed, is_hf_host, is_loopback_host

__all__ = ["Token", "hf_token_file", "is_hf_host", "is_loopback_host", "resolve_token"]

def hf_token_file() -> Path:
    hf_home = os.environ.get("HF_HOME")
    base = Path(hf_home).expanduser() if hf_home else Path("~/.cache/huggingface").expanduser()
    return Path(os.environ.get("HF_TOKEN_PATH", str(base / "token"))).expanduser()


@dataclass(frozen=True)
class Token:
    value: SecretStr
    source: str  # shown to users: "apiKey in config", "$HF_TOKEN", "token file ~/.cache/..."

    def __repr__(self) -> str:
        return f"Token(source={self.source!r})"


def resolve_token(model: ModelConfig) -> Token | None:
    """The token to send with this model's requests, or None.

    Environment and token-file fallbacks are Hugging Face credentials: they go only where
    ``ambient_credentials_allowed`` says (Hugging Face hosts over https, from a trusted
    config), never to a third party.
    """
    if model.apiKey is not None and model.apiKey.get_secret_value():
        return Token(model.apiKey, "apiKey in config")
    if not ambient_credentials_allowed(model.effective_api_base, trusted=model.trusted):
        return None
    for variable in ("HF_TOKEN", "HF_API_KEY"):
        value = os.environ.get(variable, "").strip()
        if value:
            secrets.add(value)
            return Token(SecretStr(value), f"${variable}")
    path = hf_token_file()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not value:
        return None
    secrets.add(value)
    home = str(Path.home())
    shown = str(path).replace(home, "~", 1) if str(path).startswith(home) else str(path)
    return Token(SecretStr(value), f"token file {shown}")
