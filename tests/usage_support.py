"""Helpers for the usage tests: call records, an Accounting wired to lists, redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bytebuddy_ls.config import ConfigSourceKind, load_config_data
from bytebuddy_ls.inference.records import UpstreamCall
from bytebuddy_ls.usage.accounting import Accounting
from bytebuddy_ls.usage.budgets import Alert


def call(
    model: str = "coder",
    *,
    provider: str = "together",
    role: str = "chat",
    operation: str | None = None,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    outcome: str = "ok",
    started: float | None = None,
    estimated: bool = False,
    ttft_s: float | None = None,
    latency_s: float = 0.25,
    prompt: str | None = None,
) -> UpstreamCall:
    return UpstreamCall(
        started=time.time() if started is None else started,
        model=model,
        model_id=f"org/{model}",
        provider=provider,
        role=role,
        operation=operation or role,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated=estimated,
        latency_s=latency_s,
        ttft_s=ttft_s,
        outcome=outcome,
        prompt=prompt,
    )


@dataclass
class Recorder:
    problems: list[tuple[str, str]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    budget_changes: int = 0

    def report(self, cause: str, message: str) -> None:
        self.problems.append((cause, message))

    def alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def changed(self) -> None:
        self.budget_changes += 1


def make_accounting(
    state: Path, config: dict[str, Any] | None, recorder: Recorder, router: str = "http://127.0.0.1:9"
) -> Accounting:
    accounting = Accounting(
        state_dir=state,
        router_base=router,
        report=recorder.report,
        alert=recorder.alert,
        budget_changed=recorder.changed,
    )
    accounting.start()
    if config is not None:
        accounting.configure(load_config_data(config, "test config", ConfigSourceKind.FLAG))
    return accounting


def models_config(**extra: Any) -> dict[str, Any]:
    return {
        "models": [
            {"name": "coder", "provider": "huggingfaceinferenceapi",
             "model": "org/coder", "roles": ["chat", "edit", "apply"]},
            {"name": "fim", "provider": "huggingface-tgi", "model": "org/fim",
             "apiBase": "http://127.0.0.1:9", "roles": ["autocomplete"]},
        ],
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_redis(directory: Path) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make test-deps`")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return RedisServer(port, process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()
