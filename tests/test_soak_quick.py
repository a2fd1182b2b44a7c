"""The soak benchmark's short form (``bench/soak.py --quick``) as a test: its figures
must show every request answered, no crash, and memory, tasks and connections back
near where they started. The long form (10,000 requests) runs with ``make soak``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_soak_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert figures["form"] == "quick"
    assert figures["requests"] == 500
    assert figures["answered"] == figures["requests"] and figures["unanswered"] == 0
    assert figures["crashes"] == 0 and figures["clean_shutdown"] is True
    # The load did exercise the failure paths.
    assert figures["faults_injected"] > 0 and figures["cancels_sent"] > 0
    assert figures["suggestions"] > 0 and figures["chats"] > 0
    # Back to baseline once idle: no task, upstream call or connection left behind
    # (the HTTP pool may keep a few idle keep-alive connections).
    assert figures["tasks"]["end"] <= figures["tasks"]["start"] + 2, figures["tasks"]
    assert figures["in_flight_upstream"]["end"] == 0
    assert figures["sockets"]["end"] <= figures["sockets"]["start"] + 4, figures["sockets"]
    assert figures["rss_mb"]["end"] <= figures["rss_mb"]["start"] + 40, figures["rss_mb"]
    # Faults cost bounded time: the slowest request is a stall of about one timeout
    # plus scaled retries, never a hang.
    assert figures["latency_ms"]["max"] < 30_000
