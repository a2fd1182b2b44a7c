"""The local usage ledger: one SQLite row per upstream call, in the user's state directory.

Rows are written by the accounting thread only (see ``writer``), in batches, each batch one
transaction in WAL mode: a process killed mid-write loses at most that batch and leaves
the database readable. Readers (the CLI, ``bytebuddy/usage``) open their own connection.

A database that cannot be opened or written (locked by another program for longer than
the busy timeout, corrupt, on a read-only disk) raises ``LedgerError`` with a message that
says what to do; the caller reports it once and goes on without accounting.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..state import state_dir

LEDGER_FILE = "usage.sqlite3"
BUSY_TIMEOUT_MS = 2000

# Row kinds: an upstream call, an answer served from the autocomplete cache (no upstream
# call, no cost), and the running cost of a dedicated Endpoint billed per hour.
CALL, CACHE_HIT, UPTIME = "call", "cache_hit", "uptime"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    started REAL NOT NULL,
    day TEXT NOT NULL,
    model TEXT NOT NULL,
    model_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    role TEXT NOT NULL,
    operation TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    ttft_s REAL,
    outcome TEXT NOT NULL,
    finish_reason TEXT,
    cost_usd REAL NOT NULL,
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started);
"""
_COLUMNS = (
    "started, day, model, model_id, provider, role, operation, prompt_tokens, "
    "completion_tokens, estimated, latency_s, ttft_s, outcome, finish_reason, cost_usd, kind"
)
_INSERT = f"INSERT INTO calls ({_COLUMNS}) VALUES ({', '.join('?' * 16)})"

GROUPINGS = ("model", "provider", "role", "day", "operation")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    started: float
    model: str
    model_id: str
    provider: str
    role: str
    operation: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    latency_s: float
    ttft_s: float | None
    outcome: str
    finish_reason: str | None
    cost_usd: float
    kind: str = CALL

    @property
    def day(self) -> str:
        return time.strftime("%Y-%m-%d", time.localtime(self.started))

    def values(self) -> tuple[object, ...]:
        return (
            self.started,
            self.day,
            self.model,
            self.model_id,
            self.provider,
            self.role,
            self.operation,
            self.prompt_tokens,
            self.completion_tokens,
            int(self.estimated),
            self.latency_s,
            self.ttft_s,
            self.outcome,
            self.finish_reason,
            self.cost_usd,
            self.kind,
        )


class LedgerError(Exception):
    """The ledger cannot be used; the message says why and what to do."""


def ledger_path() -> Path:
    return state_dir() / LEDGER_FILE


def _explain(path: Path, exc: sqlite3.Error) -> LedgerError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        why = f"the usage ledger {path} is locked by another program"
        fix = "close it (e.g. an open sqlite3 shell) and restart the server"
    elif isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        why = f"the usage ledger {path} is damaged ({text})"
        fix = f"move it away (mv {path} {path}.broken); a new one starts on the next run"
    else:
        why = f"the usage ledger {path} cannot be used ({text})"
        fix = "check the disk and the directory's permissions"
    return LedgerError(f"{why}: usage is not recorded in this session; {fix}")


class Ledger:
    """The writer's connection. Not thread-safe: one thread owns it."""

    def __init__(self, path: Path, *, retention_days: int = 90) -> None:
        self.path = path
        self.retention_days = retention_days
        self._db: sqlite3.Connection | None = None
        self._pruned_at = 0.0

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a power cut may lose the last batches, never the file.
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        except OSError as exc:
            raise LedgerError(
                f"cannot create the usage ledger in {self.path.parent} ({exc.strerror}): usage "
                "is not recorded in this session; check the directory's permissions"
            ) from None
        self._db = db
        self.prune()

    def write(self, rows: Sequence[LedgerRow]) -> None:
        if self._db is None or not rows:
            return
        try:
            with self._transaction(self._db):
                self._db.executemany(_INSERT, [row.values() for row in rows])
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None
        if time.time() - self._pruned_at > 3600:
            self.prune()

    def prune(self) -> None:
        """Forget rows older than the retention period."""
        if self._db is None:
            return
        self._pruned_at = time.time()
        cutoff = self._pruned_at - self.retention_days * 86400
        try:
            self._db.execute("DELETE FROM calls WHERE started < ?", (cutoff,))
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def spent_since(self, since: float, until: float, models: Iterable[str] | None) -> Spend:
        """Tokens and USD recorded in ``[since, until)``, for some models or all."""
        if self._db is None:
            return Spend(0, 0.0)
        return _spent(self._db, self.path, since, until, models)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @staticmethod
    def _transaction(db: sqlite3.Connection) -> _Transaction:
        return _Transaction(db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


@dataclass(frozen=True, slots=True)
class Spend:
    tokens: int
    usd: float


def _spent(
    db: sqlite3.Connection, path: Path, since: float, until: float, models: Iterable[str] | None
) -> Spend:
    query = (
        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost_usd), 0)"
        " FROM calls WHERE started >= ? AND started < ?"
    )
    args: list[object] = [since, until]
    if models is not None:
        names = list(models)
        query += f" AND model IN ({', '.join('?' * len(names))})"
        args += names
    try:
        tokens, usd = db.execute(query, args).fetchone()
    except sqlite3.Error as exc:
        raise _explain(path, exc) from None
    return Spend(int(tokens), float(usd))


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One group of the usage report."""

    key: str
    model: str
    provider: str
    role: str
    operation: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    estimated: bool
    errors: int
    cache_hits: int


def read_usage(path: Path, since: float, by: str = "model") -> list[UsageLine]:
    """Usage since ``since`` grouped by ``by`` (one of ``GROUPINGS``), largest cost first
    (by day: oldest first). No ledger yet: no rows. Opens its own read-only connection."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by '{by}' (choose one of {', '.join(GROUPINGS)})")
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise _explain(path, exc) from None

    # Columns other than the grouping one: their distinct values among upstream calls
    # (cache hits and Endpoint uptime only when nothing else), comma-separated.
    def one(column: str) -> str:
        if column == by:
            return column
        return (
            f"COALESCE(GROUP_CONCAT(DISTINCT CASE WHEN kind = '{CALL}' THEN {column} END), "
            f"GROUP_CONCAT(DISTINCT {column}))"
        )

    order = "day ASC" if by == "day" else "SUM(cost_usd) DESC, SUM(prompt_tokens) DESC"
    query = f"""
        SELECT {by}, {one("model")}, {one("provider")}, {one("role")}, {one("operation")},
               SUM(kind = '{CALL}'),
               SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd), MAX(estimated),
               SUM(kind = '{CALL}' AND outcome NOT IN ('ok', 'cancelled')),
               SUM(kind = '{CACHE_HIT}')
        FROM calls WHERE started >= ? GROUP BY {by} ORDER BY {order}"""
    try:
        with db:
            fetched = db.execute(query, (since,)).fetchall()
    except sqlite3.Error as exc:
        raise _explain(path, exc) from None
    finally:
        db.close()
    return [
        UsageLine(
            key=str(r[0]),
            model=r[1],
            provider=r[2],
            role=r[3],
            operation=r[4],
            requests=int(r[5]),
            prompt_tokens=int(r[6]),
            completion_tokens=int(r[7]),
            cost_usd=float(r[8]),
            estimated=bool(r[9]),
            errors=int(r[10]),
            cache_hits=int(r[11]),
        )
        for r in fetched
    ]
