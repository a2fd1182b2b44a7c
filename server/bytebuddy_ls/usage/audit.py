"""The opt-in audit log: one JSON line per upstream call, rotated by size.

A line names who asked what of which model and how it went, with the SHA-256 of the
prompt so a prompt can be matched later without being stored. The prompt itself (code,
and whatever secrets the code holds) is written only with ``includePrompts: true``.
Writes happen on the accounting thread.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..config.schema import AuditConfig
from .ledger import LedgerRow


@dataclass(frozen=True, slots=True)
class AuditEntry:
    row: LedgerRow
    prompt: str | None  # the prompt as sent (chat messages as JSON), if known


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()


class AuditError(Exception):
    pass


class AuditLog:
    def __init__(self, config: AuditConfig, base_dir: Path | None = None) -> None:
        path = Path(config.path).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        self.path = path
        self.include_prompts = config.includePrompts
        self.max_bytes = int(config.maxSizeMb * 1_000_000)
        self.keep = config.keep
        self._user = _user()

    def line(self, entry: AuditEntry) -> str:
        row = entry.row
        record: dict[str, object] = {
            "id": uuid.uuid4().hex,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(row.started))
            + f".{int(row.started * 1000) % 1000:03d}Z",
            "user": self._user,
            "model": row.model,
            "model_id": row.model_id,
            "provider": row.provider,
            "role": row.role,
            "operation": row.operation,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "estimated": row.estimated,
            "cost_usd": row.cost_usd,
            "latency_ms": round(row.latency_s * 1000, 1),
            "outcome": row.outcome,
            "prompt_sha256": prompt_digest(entry.prompt) if entry.prompt is not None else None,
        }
        if self.include_prompts and entry.prompt is not None:
            record["prompt"] = entry.prompt
        return json.dumps(record, ensure_ascii=False) + "\n"

    def write(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        data = "".join(self.line(e) for e in entries).encode("utf-8", "surrogatepass")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(data) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(
                f"cannot write the audit log {self.path} ({exc.strerror}): audit lines are "
                "not written in this session; check 'audit.path' and the directory"
            ) from None

    def _rotate(self) -> None:
        """``log`` → ``log.1`` → ``log.2`` …; the oldest beyond ``keep`` is dropped."""
        oldest = self.path.with_name(f"{self.path.name}.{self.keep}")
        oldest.unlink(missing_ok=True)
        for index in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
