"""The live config: the last good one, the current error, user selections, and a
file watcher that reloads on change (Neovim registers no file watchers, so the
server polls instead of relying on ``workspace/didChangeWatchedFiles``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..log import logger
from .discovery import ConfigSource, find_config
from .loader import ConfigError, LoadedConfig, Trust, load_config_data, load_config_file
from .roles import models_for_role
from .schema import ModelConfig, Role
from .trust import Provenance, TrustStore

POLL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class ReloadOutcome:
    changed: bool  # a new config is active
    error: ConfigError | None  # the latest attempt failed (the last good config stays)
    new_error: bool  # the error differs from the one already reported


class ConfigState:
    def __init__(
        self,
        *,
        flag: str | None = None,
        init_options: dict[str, Any] | None = None,
        workspace_root: Path | None = None,
        trust_store: TrustStore | None = None,
    ) -> None:
        self.flag = flag
        self.init_options = init_options or {}
        self.workspace_root = workspace_root
        self.workspace_folders: list[Path] = []
        # False over TCP: any local process can connect, so no editor-supplied config.
        self.editor_config = True
        self.trust_store = trust_store or TrustStore()
        self.source: ConfigSource | None = None
        self.loaded: LoadedConfig | None = None
        self.error: ConfigError | None = None
        self.selected: dict[Role, str] = {}
        self._stamp: tuple[Any, ...] | None = None

    @property
    def models(self) -> list[ModelConfig]:
        return list(self.loaded.config.models) if self.loaded else []

    def chain(self, role: Role) -> list[ModelConfig]:
        if self.loaded is None:
            return []
        return models_for_role(self.loaded.config, role, self.selected)

    def select(self, role: Role, name: str) -> ModelConfig:
        """Make ``name`` the first choice for ``role``; raises ValueError with a reason."""
        if self.loaded is None:
            raise ValueError("no config is loaded")
        model = self.loaded.config.model_named(name)
        if model is None:
            names = ", ".join(m.name for m in self.loaded.config.models)
            raise ValueError(f"no model named '{name}' (models: {names})")
        if model.unusable:
            raise ValueError(model.unusable)
        self.selected[role] = name
        return model

    def reload(self, *, force: bool = False) -> ReloadOutcome:
        """Find and load the config; keep the last good one when the new one is bad."""
        # Every place a config may come from, by name.
        source = find_config(
            flag=self.flag,
            init_options=self.init_options,
            workspace_root=self.workspace_root,
            workspace_folders=self.workspace_folders,
            editor_config=self.editor_config,
        )
        stamp = (
            _stamp(source.path) if source and source.path else None,
            # Trusting the config (here or with `bytebuddy-ls trust`) reloads it.
            self.trust_store.stamp()
            if source and source.provenance is Provenance.WORKSPACE
            else None,
        )
        if (
            not force
            and source == self.source
            and stamp == self._stamp
            and (self.loaded is not None or self.error is not None or source is None)
        ):
            return ReloadOutcome(False, self.error, False)
        self.source, self._stamp = source, stamp
        if source is None:
            was_loaded = self.loaded is not None
            self.loaded, self.error = None, None
            return ReloadOutcome(was_loaded, None, False)
        try:
            trust = Trust(source.provenance, self.trust_store)
            if source.path is None:  # inline options or the embedded default
                loaded = load_config_data(
                    source.inline, source.describe(), source.kind, trust=trust
                )
            else:
                loaded = load_config_file(source.path, source.kind, trust=trust)
        except ConfigError as exc:
            new = self.error is None or str(self.error) != str(exc)
            self.error = exc
            return ReloadOutcome(False, exc, new)
        self.loaded, self.error = loaded, None
        self.selected = {
            role: name for role, name in self.selected.items() if loaded.config.model_named(name)
        }
        return ReloadOutcome(True, None, False)

    def trust(self, digest: str, label: str) -> ReloadOutcome:
        """Trust the workspace config whose content has ``digest`` (the one the user was
        shown: a later edit stays untrusted), and reload."""
        self.trust_store.trust(digest, label)
        return self.reload(force=True)

    async def watch(
        self, on_reload: Callable[[ReloadOutcome], None], interval: float = POLL_INTERVAL_S
    ) -> None:
        """Poll the config file (a few ``stat`` calls) and report every change."""
        while True:
            await asyncio.sleep(interval)
            try:
                outcome = self.reload()
            except Exception:  # never let the watcher die
                logger.exception("config watcher failed")
                continue
            if outcome.changed or outcome.new_error:
                on_reload(outcome)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
