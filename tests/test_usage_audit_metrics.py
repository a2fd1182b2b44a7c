"""The audit log (hash, never the code unless asked; rotation) and the metrics endpoint
(scraped over HTTP, parsed with prometheus_client's text parser)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bytebuddy_ls.config import ConfigSourceKind, load_config_data
from bytebuddy_ls.config.schema import AuditConfig
from bytebuddy_ls.usage.audit import AuditEntry, AuditLog
from bytebuddy_ls.usage.metrics import Metrics

from .test_usage_ledger import row
from .usage_support import Recorder, call, make_accounting, models_config

SECRET = "sk-live-7d1c0ffee0ddba11"
PROMPT = f'def connect():\n    return Client(api_key="{SECRET}")  # the code itself\n'


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_lines_hash_the_prompt_and_never_hold_code(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "bytebuddy.jsonl"
    accounting = make_accounting(tmp_path, models_config(audit={"path": str(log)}), Recorder())
    try:
        accounting.observe(call("coder", operation="explain", prompt=PROMPT))
        accounting.observe(call("fim", role="autocomplete", outcome="rate_limited", prompt="x"))
        accounting.cache_hit("fim")  # not an upstream call: not audited
        assert accounting.flush()
    finally:
        accounting.close()
    text = log.read_text()
    assert SECRET not in text and "def connect" not in text and "api_key" not in text
    first, second = audit_lines(log)
    assert first["prompt_sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    assert "prompt" not in first
    assert {k: first[k] for k in ("model", "provider", "operation", "outcome")} == {
        "model": "coder", "provider": "together", "operation": "explain", "outcome": "ok"}
    assert first["prompt_tokens"] == 100 and first["completion_tokens"] == 20
    assert len(first["id"]) == 32 and first["id"] != second["id"]
    assert first["user"] and first["time"].endswith("Z")
    assert second["outcome"] == "rate_limited"
    assert log.stat().st_mode & 0o777 == 0o600


def test_audit_includes_prompts_only_when_asked(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    audit = AuditLog(AuditConfig(path=str(log), includePrompts=True))
    audit.write([AuditEntry(row(), PROMPT)])
    (line,) = audit_lines(log)
    assert line["prompt"] == PROMPT


def test_audit_rotates_by_size(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    audit = AuditLog(AuditConfig(path=str(log), maxSizeMb=0.002, keep=2))  # 2 kB
    for _ in range(40):
        audit.write([AuditEntry(row(), "p")])
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["a.jsonl", "a.jsonl.1", "a.jsonl.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2000
        assert all(line["prompt_sha256"] for line in audit_lines(path))


def test_a_workspace_config_cannot_choose_the_audit_path(tmp_path: Path) -> None:
    recorder = Recorder()
    accounting = make_accounting(tmp_path, None, recorder)
    log = tmp_path / "elsewhere.jsonl"
    try:
        accounting.configure(load_config_data(
            models_config(audit={"path": str(log)}), "repo/.bytebuddy/config.yaml",
            ConfigSourceKind.WORKSPACE))
        accounting.observe(call(prompt="p"))
        assert accounting.flush()
    finally:
        accounting.close()
    assert not log.exists()
    assert [cause for cause, _ in recorder.problems] == ["usage:workspace"]


def test_unwritable_audit_path_is_reported_once(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    recorder = Recorder()
    config = models_config(audit={"path": str(blocker / "sub" / "audit.jsonl")})
    accounting = make_accounting(tmp_path, config, recorder)
    try:
        for _ in range(3):
            accounting.observe(call(prompt="p"))
            assert accounting.flush()
    finally:
        accounting.close()
    assert [cause for cause, _ in recorder.problems] == ["usage:audit"]
    assert "audit.path" in recorder.problems[0][1]


def scrape(port: int) -> dict[str, Any]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample(families: dict[str, Any], name: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_over_http(tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.gauges.models = lambda: ["coder", "fim"]
    metrics.gauges.breaker_state = lambda name: "open" if name == "fim" else "closed"
    metrics.gauges.in_flight = lambda: 3
    metrics.gauges.budgets = lambda: [("day:*", 0.42)]
    port = metrics.serve(0)
    try:
        recorder = Recorder()
        accounting = make_accounting(tmp_path, models_config(), recorder)
        accounting.metrics = metrics
        try:
            accounting.observe(call("coder", latency_s=0.4, ttft_s=0.12, prompt_tokens=30,
                                    completion_tokens=7))
            accounting.observe(call("coder", outcome="rate_limited", prompt_tokens=0,
                                    completion_tokens=0))
            accounting.cache_hit("fim")
        finally:
            accounting.close()
        families = scrape(port)
        assert all(name.startswith("bytebuddy_") for name in families)
        by = {"role": "chat", "model": "coder", "provider": "together"}
        assert sample(families, "bytebuddy_request_duration_seconds_count", **by) == 1
        assert sample(families, "bytebuddy_request_duration_seconds_bucket", le="0.5", **by) == 1
        assert sample(families, "bytebuddy_request_duration_seconds_bucket", le="0.3", **by) == 0
        assert sample(families, "bytebuddy_time_to_first_token_seconds_sum", **by) == 0.12
        assert sample(families, "bytebuddy_requests_total", outcome="rate_limited", **by) == 1
        assert sample(families, "bytebuddy_errors_total", type="rate_limited") == 1
        assert sample(families, "bytebuddy_tokens_total", kind="prompt", model="coder") == 30
        assert sample(families, "bytebuddy_tokens_total", kind="completion") == 7
        assert sample(families, "bytebuddy_cache_hits_total", model="fim") == 1
        assert sample(families, "bytebuddy_circuit_breaker_state", model="fim", state="open") == 1
        assert sample(families, "bytebuddy_circuit_breaker_state", model="fim",
                      state="closed") == 0
        assert sample(families, "bytebuddy_in_flight_requests") == 3
        assert sample(families, "bytebuddy_budget_used_ratio", budget="day:*") == 0.42
        # OpenMetrics when the scraper asks for it.
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5,
                             headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.text.rstrip().endswith("# EOF")
    finally:
        metrics.close()
