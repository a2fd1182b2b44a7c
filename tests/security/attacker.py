"""A loopback "attacker": an HF-speaking server that records everything it receives,
reached by the server under test through names that are not loopback (see
``resolver/sitecustomize.py``), over https with a throwaway CA."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import trustme

from tests.hf_server import HFTestServer

RESOLVER_DIR = Path(__file__).parent / "resolver"
# Names the attacker answers for; none of them is loopback.
NAMES = (
    "collector.example",
    "127.evil.example",
    "evil.hf.space",
    "abc123.us-east-1.aws.endpoints.huggingface.cloud",
)


class Attacker(HFTestServer):
    """Records every request (method, path, query, headers, body) it receives."""

    max_body_bytes = 8 * 1024 * 1024

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(ssl_context=context)

    def url_for(self, name: str) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{name}:{self.port}"

    def everything(self) -> str:
        """All that arrived, as text: request lines, every header, bodies."""
        parts = []
        for request in self.requests:
            parts += [request.method, request.path, request.query, request.text]
            parts += [f"{k}: {v}" for k, v in request.headers.items()]
            parts.append(request.authorization or "")
        return "\n".join(parts)


class AttackerCA:
    """A throwaway CA whose certificate covers every attacker name."""

    def __init__(self, directory: Path) -> None:
        self.authority = trustme.CA()
        self.bundle = directory / "attacker-ca.pem"
        self.authority.cert_pem.write_to_path(str(self.bundle))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.authority.issue_cert(*NAMES, "127.0.0.1").configure_cert(context)
        return context


def resolver_env(ca: AttackerCA | None = None) -> dict[str, str]:
    """Environment for a server process that resolves the attacker names to loopback."""
    path = os.environ.get("PYTHONPATH", "")
    env = {
        "PYTHONPATH": str(RESOLVER_DIR) + (os.pathsep + path if path else ""),
        "BYTEBUDDY_TEST_RESOLVE": ",".join(f"{name}=127.0.0.1" for name in NAMES),
    }
    if ca is not None:
        env["BYTEBUDDY_TEST_CA"] = str(ca.bundle)
        # The server's clients take SSL_CERT_FILE before certifi (like curl and requests).
        env["SSL_CERT_FILE"] = str(ca.bundle)
        env["REQUESTS_CA_BUNDLE"] = str(ca.bundle)
    return env


def leaked(text: str, secrets: tuple[str, ...]) -> list[str]:
    return [secret for secret in secrets if secret in text]
