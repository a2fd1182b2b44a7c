"""How the server meets its client: stdio, TCP, or a Unix socket, with one message reader.

The reader is stricter than pygls' own loop, which it replaces:

- a message larger than ``MAX_MESSAGE_BYTES`` is answered at once (an error with id
  null) and skipped in small chunks: the claimed length is never allocated;
- a body that is not UTF-8, not JSON, or nested too deeply gets a JSON-RPC ParseError
  (for invalid UTF-8, with the request's id when it can still be read), never silence;
- a header block without a usable ``Content-Length`` closes the connection (there is no
  way to find the next message).

TCP listens on loopback unless ``--allow-remote``: anyone who can connect is the client,
and a TCP client never gets to choose the config (see ``config.discovery``). A Unix
socket (``serve --socket PATH``, mode 0600 in a private directory) is the safe way to
share a server between processes of one user.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import stat
import sys
from collections.abc import Awaitable
from pathlib import Path
from threading import Event
from typing import Any, Protocol

from .log import logger

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_HEADER_LINE_BYTES = 8192
_SKIP_CHUNK = 64 * 1024
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
HEAP_SETTLE_DELAY_S = 1.0
# Full collections are held off this way while the server is imported (see below).
_FULL_COLLECTIONS_OFF = 1 << 30
_held_thresholds: tuple[int, ...] | None = None


def hold_full_collections() -> None:
    """No full garbage collections until ``settle_heap``: importing the server creates
    about a hundred thousand long-lived objects (lsprotocol's types and converters), and
    each full collection during that walks them all, about a tenth of the start-up time.
    Young collections still run, so short-lived cycles are freed as usual."""
    global _held_thresholds
    _held_thresholds = gc.get_threshold()
    young, middle, *_ = _held_thresholds
    gc.set_threshold(young, middle, _FULL_COLLECTIONS_OFF)


def settle_heap() -> None:
    """Collect what start-up left behind, then keep every object alive now out of later
    collections (``gc.freeze``): a full collection walks lsprotocol's ~100,000 start-up
    objects, tens of milliseconds each time, which would otherwise land in requests.
    Restores the thresholds ``hold_full_collections`` lifted."""
    global _held_thresholds
    gc.collect()
    gc.freeze()
    if _held_thresholds is not None:
        gc.set_threshold(*_held_thresholds)
        _held_thresholds = None


def _settle_heap_soon() -> None:
    # After the first messages (initialize) are answered, before the user types.
    asyncio.get_running_loop().call_later(HEAP_SETTLE_DELAY_S, settle_heap)


class _Reader(Protocol):
    def readline(self) -> Awaitable[bytes]: ...

    def readexactly(self, n: int) -> Awaitable[bytes]: ...


class TransportError(Exception):
    """A listening address that must not be used; the message says what to do."""


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback ``--host`` unless the user said ``--allow-remote``."""
    from .config.trust import is_loopback_host  # not at import: stdio start-up stays light

    if is_loopback_host(host):
        return
    if not allow_remote:
        raise TransportError(
            f"refusing to listen on {host}: it is not a loopback address, so other machines "
            "(or users) could connect and use your models and tokens. Use --host 127.0.0.1, "
            "or `serve --socket PATH` to share a server between your own processes; "
            "--allow-remote listens anyway."
        )
    logger.warning(
        "listening on %s (--allow-remote): anyone who can reach this port can use your "
        "models and tokens",
        host,
    )


class MessageReader:
    """Reads framed JSON-RPC messages and hands each to the pygls protocol."""

    def __init__(self, protocol: Any, write: Any) -> None:
        self.protocol = protocol
        self._write = write  # bytes -> None | awaitable

    async def run(self, reader: _Reader, stop: Event) -> None:
        while not stop.is_set():
            length = await self._read_headers(reader)
            if length is None:
                return
            if length > MAX_MESSAGE_BYTES:
                self._reply_error(
                    None,
                    INVALID_REQUEST,
                    f"message of {length} bytes is larger than the {MAX_MESSAGE_BYTES}-byte "
                    "limit; skipped",
                )
                if not await self._skip(reader, length):
                    return
                continue
            body = await self._read_body(reader, length)
            if body is None:
                return
            self.dispatch(body)

    async def _read_headers(self, reader: _Reader) -> int | None:
        """The Content-Length of the next message; None at the end of the stream."""
        length: int | None = None
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):  # a header line without an end
                self._reply_error(None, PARSE_ERROR, "header line too long; closing")
                return None
            if not line:
                return None
            if len(line) > MAX_HEADER_LINE_BYTES:
                self._reply_error(None, PARSE_ERROR, "header line too long; closing")
                return None
            text = line.strip()
            if not text:
                if length is None:
                    continue  # stray blank line between messages
                return length
            name, _, value = text.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = -1
                if length < 0:
                    self._reply_error(None, PARSE_ERROR, "invalid Content-Length; closing")
                    return None

    async def _read_body(self, reader: _Reader, length: int) -> bytes | None:
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None
        return body if len(body) == length else None

    async def _skip(self, reader: _Reader, length: int) -> bool:
        remaining = length
        while remaining > 0:
            size = min(_SKIP_CHUNK, remaining)
            try:
                chunk = await reader.readexactly(size)
            except asyncio.IncompleteReadError:
                return False
            if not chunk:
                return False
            remaining -= len(chunk)
        return True

    def dispatch(self, body: bytes) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._reply_error(
                _salvage_id(body), PARSE_ERROR, f"message is not valid UTF-8 (byte {exc.start})"
            )
            return
        try:
            message = json.loads(text, object_hook=self.protocol.structure_message)
        except RecursionError:
            self._reply_error(None, PARSE_ERROR, "message is nested too deeply")
            return
        except ValueError as exc:
            self._reply_error(None, PARSE_ERROR, f"message is not JSON: {exc}")
            return
        if not hasattr(message, "jsonrpc"):
            self._reply_error(None, INVALID_REQUEST, "not a JSON-RPC message")
            return
        try:
            self.protocol.handle_message(message)
        except Exception as exc:
            logger.exception("unable to handle a message")
            report = getattr(self.protocol._server, "report_server_error", None)
            if report is not None:
                with contextlib.suppress(Exception):
                    report(exc, type(exc))

    def _reply_error(self, msg_id: Any, code: int, message: str) -> None:
        logger.warning("protocol error: %s", message)
        payload = json.dumps(
            {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
        ).encode("utf-8")
        # Both writers used here (stdout, asyncio.StreamWriter) write synchronously.
        self._write(b"Content-Length: %d\r\n\r\n" % len(payload) + payload)


def _salvage_id(body: bytes) -> Any:
    """The id of a request whose body is not UTF-8, if it still parses with replacements."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    msg_id = data.get("id") if isinstance(data, dict) else None
    return msg_id if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool) else None


# ----- the three transports ------------------------------------------------------------------


class _ThreadStdinReader:
    """stdin read in a worker thread: for a stdin the event loop cannot watch (a regular
    file, or a terminal or socket shared with stdout)."""

    def __init__(self, stream: Any, executor: Any) -> None:
        self.stream = stream
        self.executor = executor

    def readline(self) -> Awaitable[bytes]:
        return asyncio.get_running_loop().run_in_executor(
            self.executor, self.stream.readline, MAX_HEADER_LINE_BYTES + 1
        )

    def readexactly(self, n: int) -> Awaitable[bytes]:
        return asyncio.get_running_loop().run_in_executor(self.executor, self.stream.read, n)


def _stdin_is_a_separate_pipe() -> bool:
    """Whether stdin is a pipe or socket of its own, so it can be made non-blocking
    without also making stdout non-blocking (a terminal, or one socket used for both,
    shares that flag). POSIX only: Windows' event loop cannot watch an inherited pipe."""
    if os.name != "posix":
        return False
    try:
        stdin, stdout = os.fstat(0), os.fstat(1)
    except OSError:
        return False
    if not (stat.S_ISFIFO(stdin.st_mode) or stat.S_ISSOCK(stdin.st_mode)):
        return False
    return (stdin.st_dev, stdin.st_ino) != (stdout.st_dev, stdout.st_ino)


async def _stdin_reader(executor: Any) -> _Reader:
    """stdin read by the event loop where it can be: a thread hand-off per header line and
    per body costs about 16 context switches per request, the largest part of the
    server's own latency on a two-core machine."""
    if not _stdin_is_a_separate_pipe():
        return _ThreadStdinReader(sys.stdin.buffer, executor)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_HEADER_LINE_BYTES * 2, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), sys.stdin.buffer
    )
    return reader


class _StdoutWriter:
    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def close(self) -> None:
        self.stream.close()

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()


def serve_stdio(server: Any) -> None:
    """Like pygls' ``start_io``, with ``MessageReader``."""
    server._stop_event = stop = Event()
    server.protocol.set_writer(_StdoutWriter(sys.stdout.buffer))
    messages = MessageReader(server.protocol, server.protocol.writer.write)

    async def serve() -> None:
        _settle_heap_soon()
        await messages.run(await _stdin_reader(server.thread_pool), stop)

    try:
        asyncio.run(serve())
    except BrokenPipeError:
        logger.error("the connection to the client is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


async def _serve_streams(server: Any, start: Any) -> None:
    """One client at a time (an LSP server serves one editor); ``start`` opens the listener."""
    stop = server._stop_event
    _settle_heap_soon()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.protocol.set_writer(writer)
        messages = MessageReader(server.protocol, server.protocol.writer.write)
        await messages.run(reader, stop)
        server.shutdown()

    server._server = await start(connection)
    addresses = ", ".join(str(s.getsockname()) for s in server._server.sockets)
    logger.info("listening on %s", addresses)
    with contextlib.suppress(asyncio.CancelledError):
        async with server._server:
            await server._server.serve_forever()


def serve_tcp(server: Any, host: str, port: int, *, allow_remote: bool = False) -> None:
    check_host(host, allow_remote=allow_remote)
    server._stop_event = Event()
    asyncio.run(
        _serve_streams(
            server,
            lambda handler: asyncio.start_server(
                handler, host, port, limit=MAX_HEADER_LINE_BYTES * 2
            ),
        )
    )


def prepare_socket_path(path: Path) -> None:
    """Refuse a path another user could have planted; remove our own stale socket."""
    parent = path.parent
    try:
        info = parent.stat()
    except FileNotFoundError:
        raise TransportError(f"the directory of {path} does not exist") from None
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        raise TransportError(
            f"refusing to create {path}: {parent} is writable by other users; use a "
            "directory only you can write to (e.g. $XDG_RUNTIME_DIR)"
        )
    try:
        existing = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(existing.st_mode) or existing.st_uid != os.getuid():
        raise TransportError(f"refusing to replace {path}: it is not a socket of yours")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # stale: nobody listens
        return
    finally:
        probe.close()
    raise TransportError(f"{path} is in use by another server")


def serve_socket(server: Any, path: Path) -> None:
    path = path.expanduser()
    prepare_socket_path(path)
    server._stop_event = Event()

    async def start(handler: Any) -> asyncio.Server:
        # The umask makes the socket 0600 from the moment it exists (no chmod race).
        old = os.umask(0o177)
        try:
            listener = await asyncio.start_unix_server(
                handler, str(path), limit=MAX_HEADER_LINE_BYTES * 2
            )
        finally:
            os.umask(old)
        return listener

    # Terminated (the usual way a socket server is stopped): remove the socket file.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(_serve_streams(server, start))
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
