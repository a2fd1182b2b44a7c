"""The usage report: --since forms, the pinned JSON shape, the table."""

from __future__ import annotations

import time

import pytest

from bytebuddy_ls.usage.ledger import UsageLine
from bytebuddy_ls.usage.report import format_table, parse_since, to_json

NOW = time.mktime((2026, 12, 9, 15, 30, 0, 0, 0, -1))


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("7d", 7 * 86400), ("24h", 86400), ("30m", 1800), ("2w", 14 * 86400), ("1.5h", 5400)],
)
def test_relative_since(text: str, seconds_ago: float) -> None:
    assert parse_since(text, NOW) == NOW - seconds_ago


def test_calendar_since() -> None:
    assert time.localtime(parse_since("today", NOW))[:4] == (2026, 12, 9, 0)
    assert time.localtime(parse_since("month", NOW))[:4] == (2026, 12, 1, 0)
    assert time.localtime(parse_since("2026-11-01", NOW))[:4] == (2026, 11, 1, 0)
    with pytest.raises(ValueError, match=r"30m, 24h, 7d, 2w"):
        parse_since("last week", NOW)


def line(key: str, **kw: object) -> UsageLine:
    values: dict[str, object] = {
        "key": key, "model": key, "provider": "together", "role": "chat", "operation": "chat",
        "requests": 3, "prompt_tokens": 1200, "completion_tokens": 80, "cost_usd": 0.0123,
        "estimated": False, "errors": 0, "cache_hits": 0,
    }
    values.update(kw)
    return UsageLine(**values)  # type: ignore[arg-type]


def test_json_shape_is_the_pinned_one() -> None:
    report = to_json([line("qwen"), line("star", estimated=True, cost_usd=0.0)], "model", NOW)
    pinned = {"model", "provider", "role", "operation", "requests", "prompt_tokens",
              "completion_tokens", "cost_usd", "estimated"}
    assert all(pinned <= set(row) for row in report["rows"])
    assert pinned - {"model", "provider", "role", "operation"} <= set(report["total"])
    assert report["total"]["requests"] == 6 and report["total"]["prompt_tokens"] == 2400
    assert report["total"]["cost_usd"] == 0.0123 and report["total"]["estimated"] is True
    by_day = to_json([line("2026-12-08", model="qwen")], "day", NOW)
    assert by_day["rows"][0]["day"] == "2026-12-08"


def test_table_reads_well() -> None:
    text = format_table(to_json([line("qwen", cost_usd=1.5), line("star", estimated=True)],
                                "model", NOW))
    lines = text.splitlines()
    assert lines[0].startswith("Usage since 2026-12-09T15:30:00")
    assert lines[2].split() == ["model", "requests", "prompt", "tok", "completion", "tok",
                                "cost", "errors", "cached"]
    assert lines[4].split()[:5] == ["qwen", "3", "1,200", "80", "$1.50"]
    assert lines[5].split()[:5] == ["star", "3", "1,200~", "80~", "$0.0123"]
    assert lines[7].split()[:5] == ["total", "6", "2,400~", "160~", "$1.51"]
    assert "estimated" in lines[-1]
    empty = format_table(to_json([], "model", NOW))
    assert "no calls recorded" in empty
