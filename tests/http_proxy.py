"""A loopback forward HTTP proxy, the kind ``HTTPS_PROXY``/``HTTP_PROXY`` point at.

Plain requests arrive in absolute form (``POST http://host/path HTTP/1.1``); ``CONNECT
host:port`` opens a tunnel (HTTPS). Every connection goes to one fixed upstream (the
loopback test server), whatever host the client asked for, so a test can use a real
Inference Endpoint host name (``x.endpoints.huggingface.cloud``) without DNS or network.
``.hosts`` records the host of every request or tunnel, ``.requests`` the request lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest_asyncio


class ForwardProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.hosts: list[str] = []
        self.requests: list[str] = []
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, _, rest = head.partition(b"\r\n")
            method, target, version = line.decode("latin-1").split(" ", 2)
            self.requests.append(f"{method} {target}")
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            if method == "CONNECT":
                self.hosts.append(target.rsplit(":", 1)[0])
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                # Absolute form → origin form for the upstream server.
                scheme_less = target.split("://", 1)[1]
                host, _, path = scheme_less.partition("/")
                self.hosts.append(host.rsplit(":", 1)[0])
                up_writer.write(f"{method} /{path} {version}\r\n".encode("latin-1") + rest)
            await asyncio.gather(
                _pipe(reader, up_writer, rewrite=method != "CONNECT"),
                _pipe(up_reader, writer, rewrite=False),
            )
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, rewrite: bool
) -> None:
    """Copy bytes; ``rewrite``: later requests on a kept-alive proxy connection are in
    absolute form too, so their request line is rewritten like the first one."""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if rewrite:
                data = _origin_form(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _origin_form(data: bytes) -> bytes:
    for method in (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD "):
        if data.startswith(method + b"http://"):
            rest = data[len(method) + len(b"http://") :]
            slash = rest.find(b"/")
            return method + rest[slash:]
    return data


@pytest_asyncio.fixture
async def forward_proxy(hf_server: object) -> AsyncIterator[ForwardProxy]:
    """A forward proxy in front of the ``hf_server`` fixture."""
    port = hf_server.port  # type: ignore[attr-defined]
    proxy = ForwardProxy("127.0.0.1", port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
