"""A loopback TCP proxy that breaks connections on purpose.

The HF test server scripts faults at the HTTP level; what it cannot do is refuse a
connection, or cut a plain (non-streamed) answer in the middle. This proxy sits between
the language server and the HF test server and does exactly that, with real sockets:

- ``pass``: bytes flow both ways unchanged;
- ``refuse``: nothing listens on the port (new connections get ECONNREFUSED) and open
  connections are dropped;
- ``reset``: the request reaches the upstream, the answer's head and a few bytes of
  its body come back, then the connection is reset (RST, not a clean close).

Changing the mode drops open connections, so pooled keep-alive connections of the
client do not carry the old mode over.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

Mode = Literal["pass", "refuse", "reset"]
# Bytes of the body let through before a reset: enough to be "mid-answer".
RESET_AFTER_BODY_BYTES = 12


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode: Mode = "pass"
        self.resets = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self._listen()

    async def stop(self) -> None:
        await self._stop_listening()
        self._drop_all()

    async def set_mode(self, mode: Mode) -> None:
        if mode == self.mode:
            return
        self._drop_all()
        if mode == "refuse":
            await self._stop_listening()
        elif self._server is None:
            await self._listen()
        self.mode = mode

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer)
            return
        self._writers.update((writer, up_writer))
        upward = asyncio.ensure_future(_pump(reader, up_writer))
        try:
            if self.mode == "reset":
                await self._relay_then_reset(up_reader, writer)
            else:
                await _pump(up_reader, writer)
        finally:
            upward.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await upward
            for w in (writer, up_writer):
                self._writers.discard(w)
                with contextlib.suppress(Exception):
                    w.close()

    async def _relay_then_reset(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = await up_reader.read(4096)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        while len(body) < RESET_AFTER_BODY_BYTES:
            chunk = await up_reader.read(4096)
            if not chunk:
                break
            body += chunk
        writer.write(head + b"\r\n\r\n" + body[:RESET_AFTER_BODY_BYTES])
        with contextlib.suppress(Exception):
            await writer.drain()
        self.resets += 1
        _reset(writer)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    with contextlib.suppress(Exception):
        sink.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER with a zero timeout, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
