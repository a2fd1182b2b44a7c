"""Shared pytest fixtures."""

from typing import Any

# HF server, client fixtures, a forward proxy in front of the server
pytest_plugins = ["tests.hf_server", "tests.inference_support", "tests.http_proxy"]


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
