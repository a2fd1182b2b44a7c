"""Budgets: spend per day or month against the config's ``budgets``, alerts, enforcement.

Alerts fire when spending *crosses* 50, 80 or 100 % of a budget, so each threshold fires
once per period: after a restart the period's spend is loaded from the ledger, already
crossed thresholds stay crossed. With a shared (Redis) ledger the crossing is decided on
the team's atomic counter, so exactly one machine alerts the team's threshold.
A single call that crosses two thresholds alerts the higher one only.

Periods are local calendar days and months.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..config.schema import Budget

THRESHOLDS = (0.5, 0.8, 1.0)

Action = Literal["pause", "block"]


@dataclass(frozen=True, slots=True)
class Alert:
    budget: Budget
    threshold: float  # 0.5 | 0.8 | 1.0
    message: str

    @property
    def percent(self) -> int:
        return round(self.threshold * 100)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A request the budget stops: ``pause`` (autocomplete only) or ``block``."""

    action: Action
    message: str


def period_key(period: str, when: float) -> str:
    return time.strftime("%Y-%m-%d" if period == "day" else "%Y-%m", time.localtime(when))


def period_bounds(period: str, when: float) -> tuple[float, float]:
    """Start and end (epoch seconds, local time) of the period containing ``when``."""
    t = time.localtime(when)
    if period == "day":
        start = (t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)
        end = (t.tm_year, t.tm_mon, t.tm_mday + 1, 0, 0, 0, 0, 0, -1)
    else:
        start = (t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, -1)
        end = (t.tm_year, t.tm_mon + 1, 1, 0, 0, 0, 0, 0, -1)
    return time.mktime(start), time.mktime(end)  # mktime normalises day 32 / month 13


def budget_id(budget: Budget) -> str:
    """Stable across machines and restarts: what the budget measures, not its limits."""
    return f"{budget.period}:{budget.model or '*'}"


def describe(budget: Budget) -> str:
    limits = []
    if budget.tokens is not None:
        limits.append(f"{budget.tokens:,} tokens")
    if budget.usd is not None:
        limits.append(f"${budget.usd:,.2f}")
    scope = f"model '{budget.model}'" if budget.model else "all models"
    daily = "daily" if budget.period == "day" else "monthly"
    return f"{daily} budget of {' / '.join(limits)} for {scope}"


@dataclass
class _Track:
    budget: Budget
    key: str  # the current period
    tokens: float = 0.0
    usd: float = 0.0

    def ratio(self) -> float:
        parts = []
        if self.budget.tokens is not None:
            parts.append(self.tokens / self.budget.tokens)
        if self.budget.usd is not None:
            parts.append(self.usd / self.budget.usd)
        return max(parts, default=0.0)

    def covers(self, model: str) -> bool:
        return self.budget.model is None or self.budget.model == model


class BudgetBook:
    """In-memory spend per budget for the current period; every method is a few
    dictionary operations, cheap enough for the request path."""

    def __init__(
        self,
        budgets: Sequence[Budget],
        *,
        config_origin: str = "your config",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._origin = config_origin
        now = clock()
        self._tracks: dict[str, _Track] = {}
        for budget in budgets:
            bid, n = budget_id(budget), 1
            while bid in self._tracks:  # two budgets on the same scope (tokens, then usd)
                n += 1
                bid = f"{budget_id(budget)}#{n}"
            self._tracks[bid] = _Track(budget, period_key(budget.period, now))

    @property
    def empty(self) -> bool:
        return not self._tracks

    def ids(self) -> list[str]:
        return list(self._tracks)

    def budget(self, bid: str) -> Budget:
        return self._tracks[bid].budget

    def _current(self, track: _Track) -> _Track:
        key = period_key(track.budget.period, self._clock())
        if key != track.key:
            track.key, track.tokens, track.usd = key, 0.0, 0.0
        return track

    def increments(self, model: str, tokens: int, usd: float) -> list[tuple[str, str, int, float]]:
        """``(budget id, period key, tokens, usd)`` for every budget this spend counts in."""
        return [
            (bid, self._current(t).key, tokens, usd)
            for bid, t in self._tracks.items()
            if t.covers(model)
        ]

    def add(self, model: str, tokens: int, usd: float) -> list[Alert]:
        """Count a call locally; the alerts it triggers (at most one per budget)."""
        alerts = []
        for track in self._tracks.values():
            if not track.covers(model):
                continue
            track = self._current(track)
            before = track.ratio()
            track.tokens += tokens
            track.usd += usd
            alert = self._crossed(track, before, track.ratio())
            if alert is not None:
                alerts.append(alert)
        return alerts

    def load(self, bid: str, key: str, tokens: float, usd: float) -> None:
        """Spend recorded before this session (the ledger), added without alerting."""
        track = self._tracks.get(bid)
        if track is not None and self._current(track).key == key:
            track.tokens += tokens
            track.usd += usd

    def team_total(
        self, bid: str, key: str, tokens: float, usd: float, added_tokens: float, added_usd: float
    ) -> Alert | None:
        """A shared counter's value after our atomic increment: adopt it when it is ahead
        of ours, and alert when *our* increment crossed a threshold."""
        track = self._tracks.get(bid)
        if track is None or self._current(track).key != key:
            return None
        track.tokens = max(track.tokens, tokens)
        track.usd = max(track.usd, usd)
        shared = _Track(track.budget, key, tokens, usd)
        after = shared.ratio()
        shared.tokens, shared.usd = tokens - added_tokens, usd - added_usd
        return self._crossed(track, shared.ratio(), after)

    def _crossed(self, track: _Track, before: float, after: float) -> Alert | None:
        crossed = [t for t in THRESHOLDS if before < t <= after]
        if not crossed:
            return None
        threshold = crossed[-1]
        return Alert(track.budget, threshold, self._alert_text(track, threshold))

    # ----- enforcement and status ----------------------------------------------------

    def verdict(self, model: str, role: str) -> Verdict | None:
        """Whether an exhausted budget stops this request (None: go ahead)."""
        for track in self._tracks.values():
            budget = track.budget
            if budget.onExceed == "warn" or not track.covers(model):
                continue
            if self._current(track).ratio() < 1.0:
                continue
            if budget.onExceed == "block":
                return Verdict("block", self._exceeded_text(track, "requests are blocked"))
            if role == "autocomplete":
                return Verdict("pause", self._exceeded_text(track, "autocomplete is paused"))
        return None

    def ratios(self) -> list[tuple[str, float]]:
        """Each budget's share used in its current period (1.0: used up)."""
        return [(bid, self._current(t).ratio()) for bid, t in list(self._tracks.items())]

    def status(self) -> dict[str, object] | None:
        """The ``budget`` field of ``bytebuddy/status``: the most used budget."""
        if not self._tracks:
            return None
        track = max(self._tracks.values(), key=lambda t: self._current(t).ratio())
        ratio = track.ratio()
        percent = math.floor(ratio * 100)
        state = "exceeded" if ratio >= 1.0 else "warning" if ratio >= THRESHOLDS[0] else "ok"
        field: dict[str, object] = {
            "state": state,
            "percent": percent,
            "period": track.budget.period,
            "message": f"{percent} % of the {describe(track.budget)}",
            "onExceed": track.budget.onExceed,
        }
        if track.budget.model:
            field["model"] = track.budget.model
        if track.budget.tokens is not None:
            field["tokens"] = {"used": int(track.tokens), "limit": track.budget.tokens}
        if track.budget.usd is not None:
            field["usd"] = {"used": round(track.usd, 6), "limit": track.budget.usd}
        return field

    def _until(self, track: _Track) -> str:
        return "tomorrow" if track.budget.period == "day" else "next month"

    def _raise_hint(self, track: _Track) -> str:
        limit = "tokens" if track.budget.tokens is not None else "usd"
        return (
            f"To raise it, increase '{limit}' of this budget under 'budgets' in {self._origin} "
            "(it takes effect when the file is saved)"
        )

    def _alert_text(self, track: _Track, threshold: float) -> str:
        percent = round(threshold * 100)
        used = []
        if track.budget.tokens is not None:
            used.append(f"{int(track.tokens):,} tokens")
        if track.budget.usd is not None:
            used.append(f"${track.usd:,.2f}")
        spent = " / ".join(used)
        if threshold < 1.0:
            return f"ByteBuddy: {percent} % of the {describe(track.budget)} used ({spent})."
        consequence = {
            "warn": "requests go on (onExceed: warn)",
            "pause-autocomplete": f"autocomplete is paused until {self._until(track)}",
            "block": f"requests are blocked until {self._until(track)}",
        }[track.budget.onExceed]
        return (
            f"ByteBuddy: {percent} % of the {describe(track.budget)} used ({spent}): "
            f"{consequence}. {self._raise_hint(track)}."
        )

    def _exceeded_text(self, track: _Track, consequence: str) -> str:
        return (
            f"The {describe(track.budget)} is used up (100 %): {consequence} until "
            f"{self._until(track)}. {self._raise_hint(track)}."
        )
