"""The trust model: who wrote a config, whether the user trusts it, where secrets may go.

Every config has a *provenance*:

- ``user``: what the user chose — ``--config``, ``$BYTEBUDDY_CONFIG``,
  ``~/.bytebuddy/config.yaml``, user-level editor settings, the embedded default;
- ``workspace``: anything that came with a repository — ``<folder>/.bytebuddy/config.yaml``,
  a ``configPath`` inside a workspace folder, an inline config or ``configPath`` whose
  editor setting came from the workspace (the editor says so in ``sources``).

A workspace config is *untrusted* until the user trusts its exact content (``bytebuddy-ls
trust PATH`` or the ``Trust`` action of the prompt); the SHA-256 of the content is
remembered in the user's state directory, so any edit makes it untrusted again. An
untrusted config is loaded without any ``${VAR}`` expansion, without custom headers and
without ambient credentials, and its models may only use ``https://`` hosts: it can be
shown and used, but it cannot send anything of the user's anywhere.

Ambient Hugging Face credentials (``HF_TOKEN``, ``HF_API_KEY``, the token file) go, over
https, only to ``huggingface.co`` and ``*.huggingface.co``, or to an Inference Endpoint or
Space host (``*.endpoints.huggingface.cloud``, ``*.hf.space``: anyone can run code there)
that a user or trusted config names as its ``apiBase``.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import ipaddress
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..state import state_dir

TRUST_FILE_NAME = "trusted-configs.json"
# The default base URL of a Hugging Face model without apiBase (schema.ROUTER_BASE).
_ROUTER_HOST = "router.huggingface.co"
# Hosts where anyone can run code: ambient credentials only when a trusted config names them.
_USER_CODE_HOST_SUFFIXES = (".endpoints.huggingface.cloud", ".hf.space")

INTERPOLATION = re.compile(
    r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|\$\{([A-Za-z_][A-Za-z0-9_]*)\}"
)


class Provenance(str, enum.Enum):
    USER = "user"
    WORKSPACE = "workspace"


# ----- hosts --------------------------------------------------------------------------------


def normalise_host(host: str | None) -> str:
    return (host or "").strip().lower().strip("[]").rstrip(".")


def host_of(url: str) -> str:
    """The normalised host of ``url``; "" when it has none or does not parse."""
    try:
        return normalise_host(urlsplit(url).hostname)
    except ValueError:
        return ""


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, or an IP literal in 127.0.0.0/8 or ``::1`` (parsed, never a prefix)."""
    host = normalise_host(host)
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_huggingface_host(host: str | None) -> bool:
    """``huggingface.co`` or one of its subdomains (the Hub, the router)."""
    host = normalise_host(host)
    return host == "huggingface.co" or host.endswith(".huggingface.co")


def is_hf_host(host: str | None) -> bool:
    """A host run by Hugging Face, including Endpoints and Spaces (which run anyone's code)."""
    host = normalise_host(host)
    return is_huggingface_host(host) or host.endswith(_USER_CODE_HOST_SUFFIXES)


def ambient_credentials_allowed(url: str, *, trusted: bool) -> bool:
    """Whether the user's ambient Hugging Face token may be sent to ``url``.

    ``url`` is the model's base URL as its config names it; only a trusted (or the
    user's own) config gets ambient credentials at all."""
    if not trusted:
        return False
    if not url.lower().startswith("https://"):
        return False
    host = host_of(url)
    return is_huggingface_host(host) or host.endswith(_USER_CODE_HOST_SUFFIXES)


def digest_bytes(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def digest_inline(data: Any) -> str:
    """The digest of an inline config object (canonical JSON)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return digest_bytes(canonical.encode("utf-8"))


class TrustStore:
    """Digests of workspace configs the user trusts, in ``<state dir>/trusted-configs.json``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / TRUST_FILE_NAME
        self._cache: tuple[tuple[int, int, int] | None, dict[str, Any]] | None = None

    def stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _entries(self) -> dict[str, Any]:
        stamp = self.stamp()
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        entries: dict[str, Any] = {}
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict) and isinstance(data.get("trusted"), dict):
                entries = data["trusted"]
        self._cache = (stamp, entries)
        return entries

    def is_trusted(self, digest: str) -> bool:
        return digest in self._entries()

    def trust(self, digest: str, label: str) -> None:
        entries = dict(self._entries())
        entries[digest] = {"path": label, "trustedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"version": 1, "trusted": entries}, indent=2, sort_keys=True)
        fd, temporary = tempfile.mkstemp(prefix=".trusted-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
                handle.write(text + "\n")
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        self._cache = None


# ----- provenance ------------------------------------------------------------------------------


def is_inside(path: Path, folders: Iterable[Path]) -> bool:
    """Whether ``path`` (symlinks resolved) lies in one of ``folders``."""
    try:
        real = path.expanduser().resolve()
    except (OSError, RuntimeError):
        return True  # cannot tell: assume the worst
    for folder in folders:
        try:
            if real.is_relative_to(folder.expanduser().resolve()):
                return True
        except (OSError, RuntimeError):
            continue
    return False


def parse_provenance(value: Any) -> Provenance | None:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return Provenance(value.strip().lower())
    return None


# ----- what a config would reach ----------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """What a config reads from the environment and which hosts it would contact."""

    variables: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    ambient_token: bool = False  # some model would use the user's Hugging Face token

    def describe(self) -> str:
        reads: list[str] = [f"${name}" for name in self.variables]
        if self.ambient_token:
            reads.append("your Hugging Face token")
        parts = []
        if reads:
            parts.append("wants to use " + ", ".join(reads))
        if self.hosts:
            verb = "and send requests to" if parts else "wants to send requests to"
            parts.append(f"{verb} {', '.join(self.hosts)}")
        return " ".join(parts) or "reads no environment variables and contacts no hosts"


def variables_in(value: Any) -> list[str]:
    """Every ``${VAR}`` / ``${{ secrets.VAR }}`` name in the strings of ``value``."""
    found: list[str] = []
    for text in _strings(value):
        found += [m.group(1) or m.group(2) for m in INTERPOLATION.finditer(text)]
    return list(dict.fromkeys(found))


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return INTERPOLATION.sub(lambda m: environ.get(m.group(1) or m.group(2), ""), text)


def reach_of(data: Any) -> Reach:
    """What the raw (not yet interpolated) config ``data`` would reach once trusted."""
    hosts: list[str] = []
    ambient = False
    models = data.get("models") if isinstance(data, Mapping) else None
    for model in models if isinstance(models, list) else []:
        if not isinstance(model, Mapping):
            continue
        provider = str(model.get("provider", "")).strip().lower()
        if provider in ("llamacpp", "llama-cpp-python"):
            continue
        base = model.get("apiBase")
        url = expand(base) if isinstance(base, str) else f"https://{_ROUTER_HOST}"
        hosts.append(_shown_host(url.strip(), base if isinstance(base, str) else ""))
        if not model.get("apiKey") and ambient_credentials_allowed(url.strip(), trusted=True):
            ambient = True
    return Reach(tuple(variables_in(data)), tuple(dict.fromkeys(hosts)), ambient)


def _shown_host(url: str, template: str) -> str:
    """The host of ``url``; the unexpanded one when a variable's value is in the host
    itself (``https://${HF_TOKEN}.example``), so the prompt never shows a secret."""
    host = host_of(url) or url
    for name in variables_in(template):
        value = os.environ.get(name, "")
        if len(value) >= 4 and value.lower() in host:
            return host_of(template.strip()) or template.strip()
    return host


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
