"""A usage ledger and budgets shared by a team, in Redis (``usage.backend: redis://…``).

Every machine adds its calls to per-day hashes and its spend to per-period budget hashes
with atomic increments (one MULTI/EXEC per batch); keys expire with the retention period
(budgets: after their period). The local SQLite ledger keeps recording as well, so a
machine's own history survives Redis being down; what could not reach Redis is kept
(summed per key, so it stays small) and sent when Redis answers again.

Needs the ``redis`` package (extra ``bytebuddy-ls[team]``); imported only when configured.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from .ledger import CACHE_HIT, CALL, GROUPINGS, LedgerRow, UsageLine

PREFIX = "bytebuddy:"
RETRY_AFTER_S = 15.0
_SEP = "\t"
_METRICS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "estimated",
    "errors",
    "cache_hits",
)


class TeamError(Exception):
    """Redis cannot be used right now; the message names the server (never a password)."""


@dataclass(frozen=True, slots=True)
class BudgetIncrement:
    budget_id: str
    period_key: str
    period: str  # day | month: how long the key lives
    tokens: int
    usd: float


@dataclass(frozen=True, slots=True)
class BudgetTotal:
    budget_id: str
    period_key: str
    tokens: float
    usd: float
    added_tokens: float
    added_usd: float


def describe_url(url: str) -> str:
    """``redis://host:port/db`` without user or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _usage_key(day: str) -> str:
    return f"{PREFIX}usage:{day}"


def _budget_key(budget_id: str, period_key: str) -> str:
    return f"{PREFIX}budget:{budget_id}:{period_key}"


class TeamLedger:
    """Owned by the accounting thread (the redis client is blocking)."""

    def __init__(self, url: str, *, retention_days: int = 90, timeout_s: float = 2.0) -> None:
        try:
            import redis
        except ImportError:
            raise TeamError(
                "usage.backend is a redis:// URL but the 'redis' package is missing: "
                "pip install 'bytebuddy-ls[team]'"
            ) from None
        self.url = url
        self.where = describe_url(url)
        self.retention_s = retention_days * 86400
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
        except (ValueError, *self._errors) as exc:
            raise TeamError(f"usage.backend {self.where}: {exc}") from None
        self._pending_usage: dict[tuple[str, str], float] = defaultdict(float)
        self._pending_budget: dict[tuple[str, str, str], list[float]] = {}
        self._failed_at = 0.0

    def add(
        self, rows: Iterable[LedgerRow], budgets: Iterable[BudgetIncrement]
    ) -> list[BudgetTotal]:
        """Queue the batch and send everything pending; the budgets' new shared totals.
        Raises ``TeamError`` when Redis does not answer (the batch stays pending)."""
        for row in rows:
            group = _SEP.join((row.model, row.provider, row.role, row.operation))
            values = {
                "requests": 1 if row.kind == CALL else 0,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "cost_usd": row.cost_usd,
                "estimated": 1 if row.estimated else 0,
                "errors": 1 if row.kind == CALL and row.outcome not in ("ok", "cancelled") else 0,
                "cache_hits": 1 if row.kind == CACHE_HIT else 0,
            }
            for metric, value in values.items():
                if value:
                    self._pending_usage[(row.day, group + _SEP + metric)] += value
        for inc in budgets:
            slot = self._pending_budget.setdefault(
                (inc.budget_id, inc.period_key, inc.period), [0.0, 0.0]
            )
            slot[0] += inc.tokens
            slot[1] += inc.usd
        if not self._pending_usage and not self._pending_budget:
            return []
        if self._failed_at and time.monotonic() - self._failed_at < RETRY_AFTER_S:
            raise TeamError(f"Redis at {self.where} is unreachable")
        return self._flush()

    def _flush(self) -> list[BudgetTotal]:
        usage, budgets = dict(self._pending_usage), dict(self._pending_budget)
        pipe = self._redis.pipeline(transaction=True)
        days = set()
        for (day, field), value in usage.items():
            key = _usage_key(day)
            days.add(key)
            if field.endswith("cost_usd"):
                pipe.hincrbyfloat(key, field, value)
            else:
                pipe.hincrby(key, field, int(value))
        for key in days:
            pipe.expire(key, self.retention_s + 86400)
        order = []
        for (bid, period_key, period), (tokens, usd) in budgets.items():
            key = _budget_key(bid, period_key)
            pipe.hincrby(key, "tokens", int(tokens))
            pipe.hincrbyfloat(key, "usd", usd)
            pipe.expire(key, 2 * 86400 if period == "day" else 32 * 86400)
            order.append((bid, period_key, tokens, usd))
        results = self._execute(pipe, back_off=True)
        self._failed_at = 0.0
        self._pending_usage.clear()
        self._pending_budget.clear()
        totals = []
        tail = results[len(usage) + len(days) :]
        for index, (bid, period_key, tokens, usd) in enumerate(order):
            new_tokens, new_usd = tail[3 * index], tail[3 * index + 1]
            totals.append(
                BudgetTotal(bid, period_key, float(new_tokens), float(new_usd), tokens, usd)
            )
        return totals

    def budget_totals(
        self, wanted: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[float, float]]:
        """The shared spend of each ``(budget id, period key)`` so far."""
        pairs = list(wanted)
        pipe = self._redis.pipeline(transaction=False)
        for bid, period_key in pairs:
            pipe.hmget(_budget_key(bid, period_key), "tokens", "usd")
        results = self._execute(pipe, back_off=True)
        return {
            pair: (float(tokens or 0), float(usd or 0))
            for pair, (tokens, usd) in zip(pairs, results, strict=True)
        }

    def read_usage(self, since: float, by: str = "model") -> list[UsageLine]:
        """The team's usage from the local day of ``since`` on, grouped like the local
        ledger's report (Redis keeps days, not single calls)."""
        if by not in GROUPINGS:
            raise ValueError(f"cannot group by '{by}' (choose one of {', '.join(GROUPINGS)})")
        first = date.fromtimestamp(since)
        days = [
            (first + timedelta(days=n)).isoformat()
            for n in range((date.today() - first).days + 1)
        ]
        pipe = self._redis.pipeline(transaction=False)
        for key in days:
            pipe.hgetall(_usage_key(key))
        results = self._execute(pipe, back_off=False)
        groups: dict[str, dict[str, Any]] = {}
        for day_key, fields in zip(days, results, strict=True):
            for raw_field, raw_value in fields.items():
                parts = _text(raw_field).split(_SEP)
                if len(parts) != 5 or parts[4] not in _METRICS:
                    continue
                model, provider, role, operation, metric = parts
                columns = {
                    "model": model,
                    "provider": provider,
                    "role": role,
                    "operation": operation,
                    "day": day_key,
                }
                group = groups.setdefault(
                    columns[by],
                    {
                        "sets": {c: set() for c in ("model", "provider", "role", "operation")},
                        **{m: 0.0 for m in _METRICS},
                    },
                )
                for column in ("model", "provider", "role", "operation"):
                    group["sets"][column].add(columns[column])
                group[metric] += float(_text(raw_value))
        lines = [
            UsageLine(
                key=key,
                model=",".join(sorted(g["sets"]["model"])),
                provider=",".join(sorted(g["sets"]["provider"])),
                role=",".join(sorted(g["sets"]["role"])),
                operation=",".join(sorted(g["sets"]["operation"])),
                requests=int(g["requests"]),
                prompt_tokens=int(g["prompt_tokens"]),
                completion_tokens=int(g["completion_tokens"]),
                cost_usd=g["cost_usd"],
                estimated=g["estimated"] > 0,
                errors=int(g["errors"]),
                cache_hits=int(g["cache_hits"]),
            )
            for key, g in groups.items()
        ]
        if by == "day":
            return sorted(lines, key=lambda line: line.key)
        return sorted(lines, key=lambda line: (-line.cost_usd, -line.prompt_tokens))

    def _execute(self, pipe: Any, *, back_off: bool) -> list[Any]:
        """Run a pipeline; an unreachable Redis raises TeamError. With ``back_off``, the next
        flushes wait ``RETRY_AFTER_S`` before trying Redis again."""
        try:
            return list(pipe.execute())
        except self._errors as exc:
            if back_off:
                self._failed_at = time.monotonic()
            raise TeamError(
                f"Redis at {self.where} is unreachable ({type(exc).__name__})"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self._redis.close()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
