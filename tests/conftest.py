"""Shared pytest fixtures."""

import os
from collections.abc import Iterator
from typing import Any

import pytest

# HF server (+ its Inference Endpoints emulation), client fixtures, a forward proxy in
# front of the server, redis-server for the shared usage ledger.
pytest_plugins = [
    "tests.hf_server",
    "tests.endpoints_server",
    "tests.inference_support",
    "tests.http_proxy",
    "tests.usage_support",
]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """A test module may define ``cell_exists(**params)`` for parametrized combinations
    that cannot happen; those are deselected rather than reported as skipped."""
    kept, dropped = [], []
    for item in items:
        exists = getattr(getattr(item, "module", None), "cell_exists", None)
        callspec = getattr(item, "callspec", None)
        if exists is not None and callspec is not None and not exists(**callspec.params):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test writes a usage ledger into the real home: servers started in-process, and
    subprocesses inheriting the environment, keep their state in a temporary folder."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(autouse=True)
def _isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets registered by code running in this process (config loading, clients) are
    forgotten after each test: the registry is process-wide, and a value one test
    registered must not redact another test's messages."""
    from bytebuddy_ls.log import secrets

    monkeypatch.setattr(secrets, "_secrets", secrets._secrets)
