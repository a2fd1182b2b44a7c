"""Usage as users see it, through the real server and CLI: ``bytebuddy/usage``, the
``budget`` field of ``bytebuddy/status``, ``bytebuddy-ls usage``, ``serve --metrics-port``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bytebuddy_ls.usage.ledger import Ledger, LedgerRow

from .lsp_harness import _as_dict, running_server
from .usage_support import free_port

CONFIG: dict[str, Any] = {
    "models": [
        {"name": "qwen", "provider": "openai", "model": "org/qwen",
         "apiBase": "http://127.0.0.1:9/v1", "roles": ["chat", "edit", "apply"]},
        {"name": "fim", "provider": "huggingface-tgi", "model": "org/fim",
         "apiBase": "http://127.0.0.1:9", "roles": ["autocomplete"]},
    ]
}


def seed(state: Path, *, days_ago: float = 0.0) -> None:
    """What a few earlier sessions recorded."""
    ledger = Ledger(state / "bytebuddy-ls" / "usage.sqlite3")
    ledger.open()
    now = time.time() - days_ago * 86400
    rows = [
        LedgerRow(now - 60, "qwen", "org/qwen", "together", "chat", "chat", 1000, 200, False,
                  1.2, 0.3, "ok", "stop", 0.5),
        LedgerRow(now - 50, "qwen", "org/qwen", "nebius", "edit", "edit", 500, 100, False,
                  0.8, None, "ok", "stop", 0.25),
        LedgerRow(now - 40, "fim", "org/fim", "tgi", "autocomplete", "autocomplete", 80, 8,
                  True, 0.1, None, "ok", "length", 0.0),
        LedgerRow(now - 30, "fim", "org/fim", "tgi", "autocomplete", "autocomplete", 0, 0,
                  False, 0.1, None, "rate_limited", None, 0.0),
        LedgerRow(now - 10 * 86400, "qwen", "org/qwen", "together", "chat", "chat", 9, 9,
                  False, 0.1, None, "ok", None, 9.0),
    ]
    ledger.write(rows)
    ledger.close()


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


async def test_usage_request_reports_the_ledger(tmp_path: Path) -> None:
    seed(tmp_path / "state")
    async with running_server(cwd=tmp_path, env=env_for(tmp_path),
                              init_options={"config": CONFIG}) as session:
        protocol = session.client.protocol
        report = _as_dict(await protocol.send_request_async("bytebuddy/usage", {"since": "7d"}))
        rows = {row["model"]: row for row in report["rows"]}
        assert set(rows) == {"qwen", "fim"}  # the 10-day-old call is outside 7d
        assert rows["qwen"]["requests"] == 2 and rows["qwen"]["cost_usd"] == 0.75
        assert rows["qwen"]["provider"].split(",") in (["together", "nebius"],
                                                       ["nebius", "together"])
        assert rows["fim"]["errors"] == 1 and rows["fim"]["estimated"] is True
        assert report["total"]["requests"] == 4
        assert report["total"]["prompt_tokens"] == 1580
        by_role = await protocol.send_request_async("bytebuddy/usage",
                                                    {"since": "30d", "by": "role"})
        roles = {row.role: row.requests for row in by_role.rows}
        assert roles == {"chat": 2, "edit": 1, "autocomplete": 2}
        with pytest.raises(Exception, match="since"):
            await protocol.send_request_async("bytebuddy/usage", {"since": "last tuesday"})
        with pytest.raises(Exception, match="must be one of"):
            await protocol.send_request_async("bytebuddy/usage", {"by": "colour"})


async def test_status_carries_the_budget(tmp_path: Path) -> None:
    seed(tmp_path / "state")
    config = {**CONFIG, "budgets": [
        {"period": "day", "tokens": 2000, "onExceed": "pause-autocomplete"},
        {"period": "month", "usd": 10.0, "model": "qwen"},
    ]}
    async with running_server(cwd=tmp_path, env=env_for(tmp_path),
                              init_options={"config": config}) as session:
        # The status first carries the configured budgets, then their spend once the
        # ledger has been read (off the event loop): wait for the spend.
        await session.wait_for(
            lambda: any((s.get("budget") or {}).get("percent") for s in session.statuses),
            what="the ledger's spend in the status budget",
        )
        budget = next(s["budget"] for s in reversed(session.statuses) if s.get("budget"))
        # Today: 1,888 of 2,000 tokens (94 %), more than the month's $0.75 of $10.
        assert budget["state"] == "warning" and budget["percent"] == 94
        assert budget["tokens"] == {"used": 1888, "limit": 2000}
        assert budget["onExceed"] == "pause-autocomplete"
        assert budget["message"] == "94 % of the daily budget of 2,000 tokens for all models"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path), **env_for(tmp_path)}
    env.pop("BYTEBUDDY_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bytebuddy_ls", "usage", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)


def test_cli_usage_json_has_the_pinned_shape(tmp_path: Path) -> None:
    seed(tmp_path / "state")
    result = run_cli(tmp_path, "--since", "7d", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    fields = {"model", "provider", "role", "operation", "requests", "prompt_tokens",
              "completion_tokens", "cost_usd", "estimated"}
    assert all(fields <= set(row) for row in report["rows"])
    assert [row["model"] for row in report["rows"]] == ["qwen", "fim"]  # costliest first
    assert report["total"]["requests"] == 4 and report["total"]["cost_usd"] == 0.75
    by_day = json.loads(run_cli(tmp_path, "--since", "30d", "--by", "day", "--json").stdout)
    assert [row["requests"] for row in by_day["rows"]] == [1, 4]


def test_cli_usage_table_answers_the_week_by_model(tmp_path: Path) -> None:
    seed(tmp_path / "state")
    result = run_cli(tmp_path, "--since", "7d")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Usage since ")
    assert lines[4].split()[:5] == ["qwen", "2", "1,500", "300", "$0.7500"]
    assert lines[5].split()[:5] == ["fim", "2", "80~", "8~", "$0"]
    assert lines[7].split()[:5] == ["total", "4", "1,580~", "308~", "$0.7500"]


def test_cli_usage_errors(tmp_path: Path) -> None:
    bad = run_cli(tmp_path, "--since", "yesterdayish")
    assert bad.returncode == 2 and "30m, 24h, 7d, 2w" in bad.stderr
    empty = run_cli(tmp_path, "--json")  # nothing recorded yet
    assert empty.returncode == 0 and json.loads(empty.stdout)["rows"] == []
    (tmp_path / "state" / "bytebuddy-ls").mkdir(parents=True)
    (tmp_path / "state" / "bytebuddy-ls" / "usage.sqlite3").write_bytes(b"garbage" * 1000)
    broken = run_cli(tmp_path)
    assert broken.returncode == 2 and "damaged" in broken.stderr and "mv " in broken.stderr


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
                return response.text
            except httpx.TransportError:
                assert time.monotonic() < deadline, "metrics endpoint never answered"
                await asyncio.sleep(0.1)


async def test_serve_metrics_port(tmp_path: Path) -> None:
    port = free_port()
    async with running_server(cwd=tmp_path, args=["--metrics-port", str(port)],
                              env=env_for(tmp_path), init_options={"config": CONFIG}) as session:
        await session.wait_for_status("ready")
        families = {f.name: f for f in text_string_to_metric_families(await scrape(port))}
        breaker = families["bytebuddy_circuit_breaker_state"]
        states = {(s.labels["model"], s.labels["state"]): s.value for s in breaker.samples}
        assert states[("qwen", "closed")] == 1 and states[("fim", "open")] == 0
        assert "bytebuddy_request_duration_seconds" in families
        assert "bytebuddy_in_flight_requests" in families
        # Loopback only: nothing listens on the machine's other addresses.
        with socket.socket() as probe:
            probe.settimeout(1)
            listening = probe.connect_ex(("127.0.0.2", port))
        assert listening != 0


def test_metrics_port_problems_are_explained(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "HOME": str(tmp_path), **env_for(tmp_path)}
        result = subprocess.run(
            [sys.executable, "-m", "bytebuddy_ls", "serve", "--metrics-port", str(port)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr


async def test_a_used_up_budget_pauses_autocomplete(tmp_path: Path, hf_server: Any) -> None:
    seed(tmp_path / "state")  # 1,888 tokens today
    config = {"models": [
        {"name": "fim", "provider": "huggingface-tgi", "model": "org/fim",
         "apiBase": hf_server.url, "roles": ["autocomplete"]},
        {"name": "qwen", "provider": "openai", "model": "org/qwen",
         "apiBase": hf_server.url + "/v1", "roles": ["chat"]},
    ], "budgets": [{"period": "day", "tokens": 1000, "onExceed": "pause-autocomplete"}]}
    async with running_server(cwd=tmp_path, env=env_for(tmp_path),
                              init_options={"config": config}) as session:
        # Asked at once: the request waits for the ledger's earlier spend to be read.
        uri = (tmp_path / "a.py").as_uri()
        session.open(uri, "def add(a, b):\n    ")
        result = await session.inline(uri, 1, 4)
        assert result is None or not result.items
        assert not [r for r in hf_server.requests if r.method == "POST"]  # nothing was asked
        paused = await session.wait_for_status("disabled")
        assert "autocomplete is paused until tomorrow" in paused["message"]
        assert "To raise it, increase 'tokens'" in paused["message"]
        assert paused["budget"]["state"] == "exceeded"
        # Chat is not paused.
        answer = await session.client.protocol.send_request_async(
            "bytebuddy/chat", {"messages": [{"role": "user", "content": "hi"}]}
        )
        assert answer.model == "qwen"


async def test_cli_calls_are_recorded_too(tmp_path: Path, hf_server: Any) -> None:
    from .test_cli_complete import write_config

    hf_server.script(reply="return a + b")
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n")
    config = write_config(tmp_path, hf_server)
    env = {**os.environ, "HOME": str(tmp_path), **env_for(tmp_path)}
    env.pop("BYTEBUDDY_CONFIG", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bytebuddy_ls", "complete", f"{source}:2:5", "--config", str(config),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    report = json.loads(
        (await asyncio.to_thread(run_cli, tmp_path, "--since", "today", "--json")).stdout
    )
    [row] = report["rows"]
    assert row["model"] == "fim" and row["requests"] == 1 and row["role"] == "autocomplete"
