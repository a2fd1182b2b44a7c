"""Test-only name resolution for the server process of the security tests.

The security tests need the server to reach a loopback "attacker" server through a name
that is not loopback (``collector.example``, ``evil.hf.space``...), because the rules
under test are about host names. This module is imported by Python at start-up only
when a test puts this directory on the server's ``PYTHONPATH``, and it acts only on the
names listed in ``$BYTEBUDDY_TEST_RESOLVE`` (``name=127.0.0.1,...``). It is never
installed with the package (it lives under ``tests/``), and the server itself reads
neither variable, so it cannot change how a real installation resolves names.

``$BYTEBUDDY_TEST_CA`` (a PEM file) replaces certifi's bundle, so the attacker can
serve https for those names with a throwaway CA.
"""

import os
import socket

_MAP = {
    name.strip().lower().rstrip("."): address.strip()
    for name, _, address in (
        pair.partition("=") for pair in os.environ.get("BYTEBUDDY_TEST_RESOLVE", "").split(",")
    )
    if name.strip() and address.strip()
}

if _MAP:
    _real_getaddrinfo = socket.getaddrinfo

    def _getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str):
            host = _MAP.get(name.lower().rstrip("."), host)
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = _getaddrinfo

_CA = os.environ.get("BYTEBUDDY_TEST_CA")
if _CA:
    import certifi

    certifi.where = lambda: _CA
