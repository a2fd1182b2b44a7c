"""The SQLite ledger and the accounting thread: rows, grouping, retention, crashes, damage."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bytebuddy_ls.state import state_dir
from bytebuddy_ls.usage.ledger import Ledger, LedgerRow, read_usage

from .usage_support import Recorder, call, make_accounting, models_config


def row(model: str = "coder", started: float | None = None, **kw: object) -> LedgerRow:
    values: dict[str, object] = {
        "started": time.time() if started is None else started,
        "model": model, "model_id": f"org/{model}", "provider": "together", "role": "chat",
        "operation": "chat", "prompt_tokens": 10, "completion_tokens": 5, "estimated": False,
        "latency_s": 0.1, "ttft_s": None, "outcome": "ok", "finish_reason": "stop",
        "cost_usd": 0.001,
    }
    values.update(kw)
    return LedgerRow(**values)  # type: ignore[arg-type]


def test_state_dir_follows_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "bytebuddy-ls"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_dir() == tmp_path / ".local" / "state" / "bytebuddy-ls"


def test_rows_grouped_by_model_provider_role_day(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "u.sqlite3")
    ledger.open()
    now = time.time()
    ledger.write([
        row("coder", now, prompt_tokens=100, completion_tokens=10, cost_usd=0.5),
        row("coder", now, provider="nebius", prompt_tokens=50, cost_usd=0.25, estimated=True),
        row("fim", now, role="autocomplete", operation="autocomplete", provider="tgi",
            prompt_tokens=7, completion_tokens=3, cost_usd=0.0, outcome="rate_limited"),
        row("old", now - 10 * 86400),
    ])
    by_model = read_usage(ledger.path, now - 86400, "model")
    assert [line.key for line in by_model] == ["coder", "fim"]  # largest cost first
    coder = by_model[0]
    assert (coder.requests, coder.prompt_tokens, coder.completion_tokens) == (2, 150, 15)
    assert coder.cost_usd == 0.75 and coder.estimated
    assert set(coder.provider.split(",")) == {"together", "nebius"}
    assert by_model[1].errors == 1 and not by_model[1].estimated
    by_role = {line.key: line for line in read_usage(ledger.path, now - 86400, "role")}
    assert by_role["autocomplete"].requests == 1 and by_role["chat"].requests == 2
    by_day = read_usage(ledger.path, 0, "day")
    assert [line.requests for line in by_day] == [1, 3]  # oldest first


def test_retention_forgets_old_rows(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "u.sqlite3", retention_days=30)
    ledger.open()
    ledger.write([row(started=time.time() - 31 * 86400), row()])
    ledger.prune()
    assert sum(line.requests for line in read_usage(ledger.path, 0)) == 1


def test_no_ledger_yet_is_an_empty_report(tmp_path: Path) -> None:
    assert read_usage(tmp_path / "absent.sqlite3", 0) == []


def test_accounting_writes_in_the_background(tmp_path: Path) -> None:
    recorder = Recorder()
    accounting = make_accounting(tmp_path, models_config(), recorder)
    try:
        for _ in range(50):
            accounting.observe(call("coder", prompt_tokens=10, completion_tokens=2))
        accounting.cache_hit("fim")
        assert accounting.flush()
        lines = {line.key: line for line in read_usage(accounting.ledger_path, 0)}
        assert lines["coder"].requests == 50 and lines["coder"].prompt_tokens == 500
        assert lines["fim"].requests == 0 and lines["fim"].cache_hits == 1
        assert recorder.problems == []
    finally:
        accounting.close()


def test_killed_mid_write_leaves_a_readable_ledger(tmp_path: Path) -> None:
    """A writer killed with SIGKILL while committing batches: the WAL keeps every
    committed batch and the file passes an integrity check."""
    path = tmp_path / "u.sqlite3"
    script = textwrap.dedent(f"""
        import sys, time
        from bytebuddy_ls.usage.ledger import Ledger, LedgerRow
        ledger = Ledger(__import__("pathlib").Path({str(path)!r}))
        ledger.open()
        n = 0
        while True:
            rows = [LedgerRow(time.time(), "m", "m", "p", "chat", "chat", 1, 1, False, 0.1,
                              None, "ok", None, 0.0) for _ in range(200)]
            ledger.write(rows)
            n += 1
            if n == 5:
                print("writing", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"writing"
    time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    count = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    db.close()
    assert count >= 1000 and count % 200 == 0  # whole batches only
    assert sum(line.requests for line in read_usage(path, 0)) == count
    # And the next writer carries on.
    ledger = Ledger(path)
    ledger.open()
    ledger.write([row()])
    assert sum(line.requests for line in read_usage(path, 0)) == count + 1


def test_damaged_ledger_is_reported_once_and_calls_go_on(tmp_path: Path) -> None:
    (tmp_path / "usage.sqlite3").write_bytes(b"this is not a database" * 200)
    recorder = Recorder()
    accounting = make_accounting(tmp_path, models_config(), recorder)
    try:
        for _ in range(5):
            accounting.observe(call())
        assert accounting.flush()
        assert len(recorder.problems) == 1
        cause, message = recorder.problems[0]
        assert cause == "usage:ledger"
        assert "damaged" in message and "mv " in message and "not recorded" in message
        for _ in range(5):
            accounting.observe(call())
        assert accounting.flush()
        assert len(recorder.problems) == 1
    finally:
        accounting.close()


def test_locked_ledger_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    Ledger(path).open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    recorder = Recorder()
    accounting = make_accounting(tmp_path, models_config(), recorder)
    try:
        for _ in range(3):
            accounting.observe(call())
        assert accounting.flush(timeout_s=15)
        accounting.observe(call())
        assert accounting.flush(timeout_s=15)
        assert [cause for cause, _ in recorder.problems] == ["usage:ledger"]
        assert "locked" in recorder.problems[0][1]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        accounting.close()
