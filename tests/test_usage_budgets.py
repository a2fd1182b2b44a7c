"""Budgets: thresholds crossed once per period, across restarts; onExceed modes; status."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bytebuddy_ls.config import ConfigError, ConfigSourceKind, load_config_data
from bytebuddy_ls.config.schema import Budget
from bytebuddy_ls.usage.budgets import BudgetBook, period_bounds

from .usage_support import Recorder, call, make_accounting, models_config


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_thresholds_alert_exactly_once_each_and_survive_a_restart(tmp_path: Path) -> None:
    config = models_config(budgets=[{"period": "day", "tokens": 1000, "onExceed": "warn"}])
    recorder = Recorder()
    accounting = make_accounting(tmp_path, config, recorder)
    try:
        wait_for(lambda: accounting.budget_status() is not None)  # the ledger read: nothing yet
        assert (accounting.budget_status() or {}).get("percent") == 0
        for _ in range(12):  # 120 tokens each: 50 % at the 5th, 80 % at the 7th, 100 % at the 9th
            accounting.observe(call(prompt_tokens=100, completion_tokens=20))
        assert [a.percent for a in recorder.alerts] == [50, 80, 100]
        texts = [a.message for a in recorder.alerts]
        assert "50 %" in texts[0] and "80 %" in texts[1] and "100 %" in texts[2]
        assert "daily budget of 1,000 tokens for all models" in texts[1]
        assert "To raise it" in texts[2] and "test config" in texts[2]
        assert accounting.verdict("coder", "chat") is None  # warn never stops a request
        status = accounting.budget_status()
        assert status is not None and status["state"] == "exceeded"
        assert status["percent"] == 144 and status["tokens"] == {"used": 1440, "limit": 1000}
        assert accounting.flush()
    finally:
        accounting.close()

    again = Recorder()
    restarted = make_accounting(tmp_path, config, again)
    try:
        wait_for(lambda: (restarted.budget_status() or {}).get("percent") == 144)
        restarted.observe(call(prompt_tokens=100, completion_tokens=20))
        assert again.alerts == []  # crossed earlier today: not again
    finally:
        restarted.close()


def test_one_big_call_alerts_the_highest_threshold_it_crosses(tmp_path: Path) -> None:
    priced = {"name": "coder", "provider": "huggingfaceinferenceapi", "model": "org/coder",
              "pricing": {"input": 1000, "output": 0}}  # $1 per thousand prompt tokens
    config = models_config(budgets=[{"period": "month", "usd": 1.0}], models=[priced])
    recorder = Recorder()
    accounting = make_accounting(tmp_path, config, recorder)
    try:
        accounting.observe(call(prompt_tokens=850, completion_tokens=0))  # $0.85
        assert [a.percent for a in recorder.alerts] == [80]
        assert "monthly budget of $1.00" in recorder.alerts[0].message
    finally:
        accounting.close()


@pytest.mark.parametrize("mode", ["pause-autocomplete", "block"])
def test_on_exceed_modes(tmp_path: Path, mode: str) -> None:
    config = models_config(
        budgets=[{"period": "day", "tokens": 100, "model": "fim", "onExceed": mode}]
    )
    recorder = Recorder()
    accounting = make_accounting(tmp_path, config, recorder)
    try:
        accounting.observe(call("fim", role="autocomplete", prompt_tokens=60, completion_tokens=0))
        assert accounting.verdict("fim", "autocomplete") is None
        accounting.observe(call("fim", role="autocomplete", prompt_tokens=60, completion_tokens=0))
        # Only the budget's model is concerned.
        assert accounting.verdict("coder", "chat") is None
        assert accounting.verdict("coder", "autocomplete") is None
        paused = accounting.verdict("fim", "autocomplete")
        assert paused is not None
        assert "To raise it, increase 'tokens'" in paused.message
        assert "until tomorrow" in paused.message
        on_chat = accounting.verdict("fim", "chat")
        if mode == "block":
            assert paused.action == "block" and on_chat is not None
            assert "requests are blocked" in on_chat.message
        else:
            assert paused.action == "pause" and "autocomplete is paused" in paused.message
            assert on_chat is None
        assert "100 %" in recorder.alerts[-1].message
    finally:
        accounting.close()


def _slow_ledger_reads(monkeypatch: pytest.MonkeyPatch, delay_s: float) -> None:
    from bytebuddy_ls.usage.ledger import Ledger

    read = Ledger.spent_since

    def slow(self: Ledger, *args: Any) -> Any:
        time.sleep(delay_s)
        return read(self, *args)

    monkeypatch.setattr(Ledger, "spent_since", slow)


async def test_the_first_request_waits_for_the_earlier_spend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget used up in an earlier session stops the first request after a start, even
    when that request comes while the ledger is still being read."""
    config = models_config(budgets=[{"period": "day", "tokens": 1000, "onExceed": "block"}])
    earlier = make_accounting(tmp_path, config, Recorder())
    earlier.observe(call(prompt_tokens=1500, completion_tokens=100))
    assert earlier.flush()
    earlier.close()

    _slow_ledger_reads(monkeypatch, 0.3)
    recorder = Recorder()
    restarted = make_accounting(tmp_path, config, recorder)
    try:
        assert restarted.refusal("coder", "chat") is None  # not read yet
        assert restarted.budget_status() is None  # no figure rather than a wrong "0 %"
        changes = recorder.budget_changes
        await restarted.budgets_known()
        refusal = restarted.refusal("coder", "chat")
        assert refusal is not None and "requests are blocked" in refusal
        status = restarted.budget_status()
        assert status is not None and status["percent"] == 160
        assert recorder.budget_changes > changes  # the status is sent again with the figure
    finally:
        restarted.close()


async def test_a_slow_ledger_delays_requests_only_so_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = models_config(budgets=[{"period": "day", "tokens": 1000, "onExceed": "block"}])
    _slow_ledger_reads(monkeypatch, 2.0)
    accounting = make_accounting(tmp_path, config, Recorder())
    try:
        started = time.monotonic()
        await accounting.budgets_known(timeout_s=0.2)
        waited = time.monotonic() - started
        assert waited < 1.5  # the read itself takes 2 s
        assert accounting.refusal("coder", "chat") is None  # went on with what is known
    finally:
        accounting.close()


async def test_a_config_reload_while_waiting_waits_for_the_new_budgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budgets a request waits for are replaced by a reload: it goes on once the new
    ones are read, not after the whole wait for the old ones' read, which never lands."""
    first = models_config(budgets=[{"period": "day", "tokens": 1000, "onExceed": "block"}])
    second = models_config(budgets=[{"period": "day", "tokens": 10, "onExceed": "block"}])
    _slow_ledger_reads(monkeypatch, 0.2)
    accounting = make_accounting(tmp_path, first, Recorder())
    try:
        started = time.monotonic()
        waiting = asyncio.ensure_future(accounting.budgets_known(timeout_s=5.0))
        await asyncio.sleep(0.05)
        accounting.configure(load_config_data(second, "test config", ConfigSourceKind.FLAG))
        await waiting
        assert time.monotonic() - started < 3.0  # both reads take 0.4 s; the wait is 5 s
        assert (accounting.budget_status() or {}).get("tokens") == {"used": 0, "limit": 10}
    finally:
        accounting.close()


def test_a_new_period_starts_from_zero() -> None:
    now = [time.mktime((2026, 12, 1, 23, 59, 0, 0, 0, -1))]
    book = BudgetBook([Budget(period="day", tokens=100, onExceed="block")], clock=lambda: now[0])
    assert [a.percent for a in book.add("m", 100, 0.0)] == [100]
    assert book.verdict("m", "chat") is not None
    now[0] += 120  # past midnight
    assert book.verdict("m", "chat") is None
    assert [a.percent for a in book.add("m", 50, 0.0)] == [50]


def test_period_bounds_are_local_days_and_months() -> None:
    when = time.mktime((2026, 12, 31, 15, 0, 0, 0, 0, -1))
    start, end = period_bounds("day", when)
    assert time.localtime(start)[:4] == (2026, 12, 31, 0)
    assert time.localtime(end)[:4] == (2027, 1, 1, 0)
    start, end = period_bounds("month", when)
    assert time.localtime(start)[:3] == (2026, 12, 1) and time.localtime(end)[:3] == (2027, 1, 1)


def test_team_counter_decides_who_alerts() -> None:
    book = BudgetBook([Budget(period="day", tokens=1000)])
    (bid,) = book.ids()
    key = book.increments("m", 0, 0.0)[0][1]
    # Another machine took the team to 450; our 100 tokens cross 50 %.
    assert book.team_total(bid, key, 550, 0.0, 100, 0.0) is not None
    # Our next 100 arrive after others passed 80 %: they crossed nothing themselves.
    assert book.team_total(bid, key, 900, 0.0, 100, 0.0) is None
    status = book.status()
    assert status is not None and status["percent"] == 90


def test_budget_config_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="needs 'tokens' or 'usd'"):
        load_config_data(models_config(budgets=[{"period": "day"}]), "c", ConfigSourceKind.FLAG)
    with pytest.raises(ConfigError, match="did you mean 'coder'"):
        load_config_data(
            models_config(budgets=[{"period": "day", "tokens": 5, "model": "codr"}]),
            "c", ConfigSourceKind.FLAG,
        )
    with pytest.raises(ConfigError, match="onExceed"):
        load_config_data(
            models_config(budgets=[{"period": "day", "tokens": 5, "onExceed": "stop"}]),
            "c", ConfigSourceKind.FLAG,
        )


def test_a_budget_reached_while_a_request_waited_is_a_pause_not_an_error() -> None:
    """The engine's own pause check passed, then the client's refused (the ledger's
    earlier spend arrived meanwhile): the status says "disabled", like the pause, and the
    refusal is told once, like every refusal that retrying cannot cure."""
    from types import SimpleNamespace

    from bytebuddy_ls.features.progress import RequestProgress
    from bytebuddy_ls.inference import BudgetExceededError

    seen: list[tuple[Any, ...]] = []
    status = SimpleNamespace(
        set=lambda state, message, **where: seen.append((state, message, where)),
        show_once=lambda *shown: seen.append(("shown", *shown)),
    )
    progress = RequestProgress(SimpleNamespace(status=status),  # type: ignore[arg-type]
                               role="autocomplete", title="completing", visible=False)
    message = "The daily budget of 1,000 tokens is used up (100 %): autocomplete is paused"
    progress.finish(BudgetExceededError(message, model="fim", model_id="org/fim",
                                        user_message=message))
    assert seen == [
        ("disabled", message, {"model": "fim", "role": "autocomplete"}),
        ("shown", "inference:BudgetExceededError:fim", message),  # told once, as before
    ]
