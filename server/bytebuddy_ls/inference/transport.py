"""The HTTP clients every upstream request (and ``doctor``) uses: proxies, CAs, pooling.

Proxies and CAs follow the conventions of curl, requests and huggingface_hub:
- ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` (and lower-case) choose a proxy by the
  URL's scheme; ``NO_PROXY`` lists hosts that bypass it (httpx's ``trust_env``);
- the CA bundle is ``requestOptions.caBundlePath``, else ``SSL_CERT_FILE``, else
  ``REQUESTS_CA_BUNDLE``, else the system's/certifi's; ``verifySsl: false`` turns
  verification off;
- ``requestOptions.proxy`` (an ``http(s)://`` URL) replaces the environment's proxy
  for that model.
``proxy`` and ``caBundlePath`` are honoured only from a config the user chose (the
client is told when the active config is a workspace's: ``restricted``), so a cloned
repository cannot route the user's token through its own proxy.

Redirects are never followed: a redirect must not carry the token to another host.
One pool per distinct (verify, CA, proxy): models that share settings share
connections.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

import httpx

from ..config.schema import ModelConfig
from ..log import logger

CA_ENV_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_warned: set[str] = set()  # models already told their proxy/CA settings are ignored


@dataclass(frozen=True)
class TransportSettings:
    verify: bool
    ca_bundle: str | None  # a file of PEM certificates, or None for the default store
    proxy: str | None  # an explicit proxy URL; None: the environment decides

    @classmethod
    def for_model(cls, model: ModelConfig, *, restricted: bool = False) -> TransportSettings:
        options = model.requestOptions
        proxy, ca_path = options.proxy, options.caBundlePath
        if restricted and (proxy or ca_path):
            if model.name not in _warned:
                _warned.add(model.name)
                logger.warning(
                    "model '%s': requestOptions.proxy/caBundlePath are ignored in a workspace "
                    "config; set them in your own ~/.bytebuddy/config.yaml",
                    model.name,
                )
            proxy = ca_path = None
        if ca_path is None:
            ca_path = next((os.environ[v] for v in CA_ENV_VARIABLES if os.environ.get(v)), None)
        return cls(
            verify=options.verifySsl,
            ca_bundle=os.path.expanduser(ca_path) if ca_path else None,
            proxy=proxy or None,
        )

    def verify_argument(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        if self.ca_bundle is None:
            return True
        return ssl.create_default_context(cafile=self.ca_bundle)


def new_client(settings: TransportSettings, *, max_connections: int = 32) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for these settings (the caller closes it).

    An unreadable CA bundle raises ``OSError``/``ssl.SSLError``: the caller reports it."""
    return httpx.AsyncClient(
        verify=settings.verify_argument(),
        proxy=settings.proxy,
        trust_env=True,  # HTTP(S)_PROXY, NO_PROXY; the CA comes from verify_argument()
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections // 2,
            keepalive_expiry=60,
        ),
    )


class ClientPool:
    """One ``httpx.AsyncClient`` per distinct transport settings, created on first use."""

    def __init__(self) -> None:
        self._clients: dict[TransportSettings, httpx.AsyncClient] = {}

    def get(self, settings: TransportSettings) -> httpx.AsyncClient:
        client = self._clients.get(settings)
        if client is None:
            client = self._clients[settings] = new_client(settings)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
