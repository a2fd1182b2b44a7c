"""The shared ledger and budgets in a real redis-server on loopback; Redis down → local."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from bytebuddy_ls.usage.ledger import read_usage
from bytebuddy_ls.usage.team import TeamLedger, describe_url

from .test_usage_budgets import wait_for
from .usage_support import (
    Recorder,
    RedisServer,
    call,
    free_port,
    make_accounting,
    models_config,
    start_redis,
)


def team_config(url: str, **extra: object) -> dict[str, object]:
    return models_config(usage={"backend": url}, **extra)


def test_two_machines_share_one_ledger(redis_server: RedisServer, tmp_path: Path) -> None:
    machines = [
        make_accounting(tmp_path / name, team_config(redis_server.url), Recorder())
        for name in ("alice", "bob")
    ]
    try:
        for index, accounting in enumerate(machines):
            for _ in range(3):
                accounting.observe(call("coder", prompt_tokens=10 * (index + 1),
                                        completion_tokens=1))
            accounting.observe(call("fim", role="autocomplete", outcome="timeout"))
            accounting.cache_hit("fim")
            assert accounting.flush()
        team = TeamLedger(redis_server.url)
        lines = {line.key: line for line in team.read_usage(time.time() - 3600, "model")}
        assert lines["coder"].requests == 6 and lines["coder"].prompt_tokens == 90
        assert lines["fim"].requests == 2 and lines["fim"].errors == 2
        assert lines["fim"].cache_hits == 2
        by_day = team.read_usage(time.time() - 3600, "day")
        assert [line.key for line in by_day] == [time.strftime("%Y-%m-%d")]
        # Keys expire (retention), none lives forever.
        client = redis.Redis.from_url(redis_server.url)
        keys = client.keys("bytebuddy:*")
        assert keys and all(client.ttl(key) > 0 for key in keys)
        # Each machine still has its own local history.
        local = read_usage(machines[0].ledger_path, 0)
        assert sum(line.requests for line in local) == 4
    finally:
        for accounting in machines:
            accounting.close()


def test_team_budget_alerts_exactly_once_across_machines(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = team_config(redis_server.url, budgets=[{"period": "day", "tokens": 1000}])
    recorders = [Recorder(), Recorder()]
    machines = [make_accounting(tmp_path / str(i), config, recorders[i]) for i in range(2)]
    try:
        for _ in range(6):  # 12 calls of 100 tokens, taking turns: 50/80/100 % once each
            for accounting in machines:
                accounting.observe(call(prompt_tokens=100, completion_tokens=0))
                assert accounting.flush()
        wait_for(lambda: len(recorders[0].alerts) + len(recorders[1].alerts) == 3)
        time.sleep(0.2)
        percents = sorted(a.percent for r in recorders for a in r.alerts)
        assert percents == [50, 80, 100]
        # Each machine sees the team's spend as of its last call (and the periodic poll).
        wait_for(lambda: (machines[1].budget_status() or {}).get("percent") == 120)
        first = machines[0].budget_status() or {}
        assert first.get("tokens") == {"used": 1100, "limit": 1000}
        machines[0].team_poll_s = 0.05  # idle machines poll the team's counters
        machines[0].flush()
        wait_for(lambda: (machines[0].budget_status() or {}).get("percent") == 120)
    finally:
        for accounting in machines:
            accounting.close()


def test_redis_down_falls_back_to_local_once(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    recorder = Recorder()
    config = team_config(server.url, budgets=[{"period": "day", "tokens": 1000}])
    accounting = make_accounting(tmp_path / "m", config, recorder)
    try:
        accounting.observe(call(prompt_tokens=100, completion_tokens=0))
        assert accounting.flush()
        server.stop()
        for _ in range(6):  # 700 tokens: crosses 50 % while Redis is down
            accounting.observe(call(prompt_tokens=100, completion_tokens=0))
            assert accounting.flush()
        causes = [cause for cause, _ in recorder.problems]
        assert causes == ["usage:redis"]
        message = recorder.problems[0][1]
        assert "redis://127.0.0.1" in message and "this machine" in message
        # Counted locally meanwhile: the local ledger has every call, alerts still come.
        assert sum(line.requests for line in read_usage(accounting.ledger_path, 0)) == 7
        assert [a.percent for a in recorder.alerts] == [50]
    finally:
        accounting.close()
        server.stop()


def test_passwords_never_appear_in_messages() -> None:
    assert describe_url("redis://user:s3cret@cache.local:6380/2") == "redis://cache.local:6380/2"


def test_redis_unreachable_from_the_start(tmp_path: Path) -> None:
    recorder = Recorder()
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens
    accounting = make_accounting(tmp_path, team_config(url, budgets=[
        {"period": "day", "tokens": 100}]), recorder)
    try:
        for _ in range(3):
            accounting.observe(call(prompt_tokens=40, completion_tokens=0))
            assert accounting.flush()
        assert [cause for cause, _ in recorder.problems] == ["usage:redis"]
        # Counted locally once Redis is known to be down (from the second call: 40 → 80 %).
        assert [a.percent for a in recorder.alerts] == [80, 100]
        assert sum(line.requests for line in read_usage(accounting.ledger_path, 0)) == 3
    finally:
        accounting.close()
