"""Reading a file a request names but the editor has not opened.

A request may name any ``file:`` URI, so a client (or a prompt-injected model asking
for "context") could otherwise have ``~/.ssh/id_rsa`` read and sent to the model, block
the event loop on a FIFO, or read ``/dev/zero`` until memory runs out. So a file is read
only when it is a regular file inside a workspace folder (symlinks resolved), at most
``MAX_FILE_BYTES``, opened without blocking and read in a worker thread. Anything else
is a ``FileReadError`` that says why.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Sequence
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024


class FileReadError(Exception):
    """Why a file cannot be read; the message is shown to the user as is."""


def check_inside(path: Path, folders: Sequence[Path]) -> Path:
    """``path`` with symlinks resolved, if it lies inside one of ``folders``."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise FileReadError(f"{path} does not exist") from None
    except (OSError, RuntimeError) as exc:
        raise FileReadError(f"cannot read {path}: {exc}") from None
    for folder in folders:
        try:
            if real.is_relative_to(folder.resolve()):
                return real
        except (OSError, RuntimeError):
            continue
    raise FileReadError(
        f"{path} is outside the workspace folders and not open in the editor; "
        "open it in the editor first"
    )


def read_workspace_file_sync(path: Path, folders: Sequence[Path]) -> str:
    """The text of ``path`` under the rules above (blocking: see ``read_workspace_file``)."""
    real = check_inside(path, folders)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileReadError(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileReadError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise FileReadError(
                f"{path} is {info.st_size // (1024 * 1024)} MB; files over "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MB are not read"
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:  # grew after fstat
        raise FileReadError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        # newline="" semantics: keep CRLF as it is.
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FileReadError(f"{path} is not UTF-8 text") from None


async def read_workspace_file(path: Path, folders: Sequence[Path]) -> str:
    """``read_workspace_file_sync`` in a worker thread (never blocks the event loop)."""
    return await asyncio.to_thread(read_workspace_file_sync, path, folders)
