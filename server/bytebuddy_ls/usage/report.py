"""The usage report: ``--since`` parsing, the JSON shape and the table, and the CLI."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from .ledger import GROUPINGS, LedgerError, UsageLine, ledger_path, read_usage

DEFAULT_SINCE = "7d"
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``, ``24h``, ``30m``, ``2w``, ``today``, ``month`` or a date (``2026-11-01``,
    local midnight) → epoch seconds. Raises ValueError with the accepted forms."""
    now = time.time() if now is None else now
    value = text.strip().lower()
    if match := _RELATIVE.match(value):
        return now - float(match.group(1)) * _UNIT_S[match.group(2)]
    local = time.localtime(now)
    if value == "today":
        return time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))
    if value == "month":
        return time.mktime((local.tm_year, local.tm_mon, 1, 0, 0, 0, 0, 0, -1))
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"cannot read --since '{text}': use a duration (30m, 24h, 7d, 2w), 'today', "
            "'month' or a date (2026-11-01)"
        ) from None


def to_json(lines: Sequence[UsageLine], by: str, since: float) -> dict[str, Any]:
    """``{"rows": [...], "total": {...}}`` (the pinned shape; rows grouped by ``by``)."""
    rows = []
    for line in lines:
        row: dict[str, Any] = {
            "model": line.model,
            "provider": line.provider,
            "role": line.role,
            "operation": line.operation,
            "requests": line.requests,
            "prompt_tokens": line.prompt_tokens,
            "completion_tokens": line.completion_tokens,
            "cost_usd": round(line.cost_usd, 6),
            "estimated": line.estimated,
            "errors": line.errors,
            "cache_hits": line.cache_hits,
        }
        if by == "day":
            row["day"] = line.key
        rows.append(row)
    total: dict[str, Any] = {
        "requests": sum(r["requests"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "cost_usd": round(sum(line.cost_usd for line in lines), 6),
        "estimated": any(r["estimated"] for r in rows),
        "errors": sum(r["errors"] for r in rows),
        "cache_hits": sum(r["cache_hits"] for r in rows),
    }
    return {
        "rows": rows,
        "total": total,
        "by": by,
        "since": datetime.fromtimestamp(since).astimezone().isoformat(timespec="seconds"),
    }


def _cells(label: str, row: dict[str, Any]) -> list[str]:
    """One line of the table; token counts that are estimates end in "~"."""
    estimated = "~" if row["estimated"] else ""
    return [
        label,
        f"{row['requests']:,}",
        f"{row['prompt_tokens']:,}{estimated}",
        f"{row['completion_tokens']:,}{estimated}",
        _money(row["cost_usd"]),
        f"{row['errors']:,}",
        f"{row['cache_hits']:,}",
    ]


def _money(usd: float) -> str:
    if usd == 0:
        return "$0"
    return f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"


def format_table(report: dict[str, Any]) -> str:
    by = report["by"]
    header = [by, "requests", "prompt tok", "completion tok", "cost", "errors", "cached"]
    body = [_cells(str(row["day"] if by == "day" else row[by]), row) for row in report["rows"]]
    footer = _cells("total", report["total"])
    table = [header, *body, footer]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [f"Usage since {report['since']}", "", line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    out += ["  ".join("-" * w for w in widths), line(footer)]
    if report["total"]["estimated"]:
        out.append("~ includes estimated token counts (the server did not report them)")
    if not body:
        out.append("(no calls recorded in this period)")
    return "\n".join(out)


def run_usage_cli(
    since: str, by: str, as_json: bool, config: str | None = None, out: TextIO | None = None
) -> int:
    """``bytebuddy-ls usage``: 0 with the report, 2 on a bad argument or unreadable ledger."""
    out = out or sys.stdout
    if by not in GROUPINGS:
        print(f"bytebuddy-ls usage: --by must be one of {', '.join(GROUPINGS)}", file=sys.stderr)
        return 2
    try:
        start = parse_since(since)
    except ValueError as exc:
        print(f"bytebuddy-ls usage: {exc}", file=sys.stderr)
        return 2
    try:
        lines = _team_lines(start, by, config)
        if lines is None:
            lines = read_usage(ledger_path(), start, by)
    except LedgerError as exc:
        print(f"bytebuddy-ls usage: {exc}", file=sys.stderr)
        return 2
    report = to_json(lines, by, start)
    if as_json:
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        out.write(format_table(report) + "\n")
    return 0


def _team_lines(since: float, by: str, config_flag: str | None) -> list[UsageLine] | None:
    """The shared ledger's report when the user's config sets ``usage.backend`` to Redis
    (None: use the local ledger). A workspace config is not asked."""
    from ..config import ConfigError, ConfigSourceKind, find_config, load_config_file

    source = find_config(flag=config_flag, init_options={}, workspace_root=None)
    if source is None or source.path is None or source.kind == ConfigSourceKind.WORKSPACE:
        return None
    try:
        loaded = load_config_file(source.path, source.kind)
    except ConfigError:
        return None
    backend = loaded.config.usage.backend
    if backend == "sqlite":
        return None
    from .team import TeamError, TeamLedger

    try:
        team = TeamLedger(backend, retention_days=loaded.config.usage.retentionDays)
        try:
            return team.read_usage(since, by)
        finally:
            team.close()
    except TeamError as exc:
        print(f"bytebuddy-ls usage: {exc}; showing this machine's ledger", file=sys.stderr)
        return None
