"""Proxies and CA bundles: the environment's conventions (HTTP(S)_PROXY, NO_PROXY,
SSL_CERT_FILE, REQUESTS_CA_BUNDLE) and the config's ``requestOptions.proxy`` /
``caBundlePath``, through a real loopback forward proxy and a trustme CA."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import trustme

from bytebuddy_ls.config.loader import ConfigSourceKind
from bytebuddy_ls.inference import (
    ChatMessage,
    ConnectError,
    GenerationParams,
    HostPolicy,
    InferenceClient,
)
from tests.hf_server import HFTestServer
from tests.http_proxy import ForwardProxy
from tests.inference_support import WaitLog, make_model

MESSAGES = [ChatMessage("user", "hi")]
P = GenerationParams()
ENDPOINT_HOST = "my-coder.us-east-1.aws.endpoints.huggingface.cloud"

pytestmark = pytest.mark.usefixtures("isolated_hf_env")


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(variable, raising=False)


# ----- proxies -----------------------------------------------------------------------


async def test_environment_proxy_is_used(
    hf_server: HFTestServer, hf_client: InferenceClient, forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    model = make_model(f"http://{ENDPOINT_HOST}", provider="openai", model="m")
    assert await hf_client.chat(model, MESSAGES, P) == "return a + b"
    assert forward_proxy.hosts == [ENDPOINT_HOST]


async def test_no_proxy_bypasses_the_proxy(
    hf_server: HFTestServer, hf_client: InferenceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    model = make_model(hf_server.url, provider="openai", model="m")
    assert await hf_client.chat(model, MESSAGES, P) == "return a + b"


async def test_config_proxy_replaces_the_environments(
    hf_server: HFTestServer, hf_client: InferenceClient, forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")  # would fail
    model = make_model(f"http://{ENDPOINT_HOST}", provider="openai", model="m",
                       requestOptions={"proxy": forward_proxy.url})
    assert await hf_client.chat(model, MESSAGES, P) == "return a + b"
    assert forward_proxy.hosts == [ENDPOINT_HOST]


async def test_a_workspace_config_cannot_set_a_proxy(
    hf_server: HFTestServer, hf_client: InferenceClient, forward_proxy: ForwardProxy
) -> None:
    hf_client.set_host_policy(HostPolicy(ConfigSourceKind.WORKSPACE))
    model = make_model(hf_server.url, provider="openai", model="m",
                       requestOptions={"proxy": forward_proxy.url})
    assert await hf_client.chat(model, MESSAGES, P) == "return a + b"
    assert forward_proxy.hosts == []  # ignored: straight to the server


async def test_unreachable_proxy_is_a_connect_error(
    hf_client: InferenceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    model = make_model(f"http://{ENDPOINT_HOST}", provider="openai", model="m")
    with pytest.raises(ConnectError):
        await hf_client.chat(model, MESSAGES, P)


# ----- CA bundles ----------------------------------------------------------------------


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(authority: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "corporate-ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return str(path)


@pytest_asyncio.fixture
async def tls_server(authority: trustme.CA) -> AsyncIterator[HFTestServer]:
    """The HF test server over HTTPS, its certificate issued by the trustme CA for
    127.0.0.1 and for an Endpoint's host name."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", ENDPOINT_HOST).configure_cert(context)
    server = HFTestServer(ssl_context=context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_unknown_ca_is_refused(
    tls_server: HFTestServer, hf_client: InferenceClient, no_ca_env: None
) -> None:
    model = make_model(tls_server.url, provider="openai", model="m")
    with pytest.raises(ConnectError) as info:
        await hf_client.chat(model, MESSAGES, P)
    assert "certificate" in info.value.user_message.lower()
    assert tls_server.requests == []


@pytest.mark.parametrize("how", ["caBundlePath", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
async def test_ca_bundle_from_config_or_environment(
    tls_server: HFTestServer, hf_client: InferenceClient, ca_file: str, no_ca_env: None,
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:
    extra: dict[str, Any] = {}
    if how == "caBundlePath":
        extra["requestOptions"] = {"caBundlePath": ca_file}
    else:
        monkeypatch.setenv(how, ca_file)
    model = make_model(tls_server.url, provider="openai", model="m", **extra)
    assert await hf_client.chat(model, MESSAGES, P) == "return a + b"


async def test_https_endpoint_through_a_proxy_with_a_corporate_ca(
    tls_server: HFTestServer, hf_client: InferenceClient, ca_file: str, no_ca_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = ForwardProxy("127.0.0.1", tls_server.port)
    await proxy.start()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        tls_server.script(status=503, body="", times=1)  # scaled to zero: waking up
        waits = WaitLog()
        model = make_model(f"https://{ENDPOINT_HOST}", provider="openai", model="m")
        assert await hf_client.chat(model, MESSAGES, P, on_wait=waits) == "return a + b"
        assert [w.kind for w in waits] == ["waking"]
        assert proxy.requests[0] == f"CONNECT {ENDPOINT_HOST}:443"
    finally:
        await proxy.stop()


async def test_unreadable_ca_bundle_is_reported(
    hf_server: HFTestServer, hf_client: InferenceClient, tmp_path: Path
) -> None:
    model = make_model(hf_server.url, provider="openai", model="m",
                       requestOptions={"caBundlePath": str(tmp_path / "missing.pem")})
    with pytest.raises(ConnectError) as info:
        await hf_client.chat(model, MESSAGES, P)
    assert "CA bundle" in info.value.user_message


# ----- doctor uses the same client ---------------------------------------------------------


async def test_doctor_goes_through_the_proxy(
    hf_server: HFTestServer, forward_proxy: ForwardProxy, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n"
        f"  - {{name: ep, provider: openai, model: bigcode/starcoder2-3b, "
        f"apiBase: 'http://{ENDPOINT_HOST}/v1', apiKey: k}}\n"
        f"  - {{name: other, provider: openai, model: missing/model, "
        f"apiBase: 'http://{ENDPOINT_HOST}/v1', apiKey: k}}\n"
    )
    env = {**os.environ, "HTTP_PROXY": forward_proxy.url, "HOME": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bytebuddy_ls", "doctor", "--config", str(config),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert "reachable" in text and "OpenAI-compatible" in text, text
    assert "does not serve 'missing/model'" in text and "bigcode/starcoder2-3b" in text, text
    assert process.returncode == 2  # the missing model is a problem
    assert set(forward_proxy.hosts) == {ENDPOINT_HOST}
