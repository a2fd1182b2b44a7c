"""Where the config comes from; first match wins (DESIGN.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .loader import ConfigSourceKind

WORKSPACE_CONFIG = Path(".bytebuddy") / "config.yaml"


def user_config_path() -> Path:
    return Path("~/.bytebuddy/config.yaml").expanduser()


@dataclass(frozen=True)
class ConfigSource:
    kind: ConfigSourceKind
    path: Path | None = None
    inline: Any = None

    def describe(self) -> str:
        if self.path is not None:
            return f"{self.path} ({self.kind.value})"
        return "initializationOptions.config"


def searched_locations(workspace_root: Path | None) -> list[str]:
    """Human-readable list of where we looked, for the 'unconfigured' message."""
    places = ["--config PATH", "initializationOptions.config / configPath", "$BYTEBUDDY_CONFIG"]
    if workspace_root is not None:
        places.append(str(workspace_root / WORKSPACE_CONFIG))
    if str(user_config_path()) not in places:
        places.append(str(user_config_path()))
    return places


def find_config(
    *,
    flag: str | None = None,
    init_options: dict[str, Any] | None = None,
    workspace_root: Path | None = None,
) -> ConfigSource | None:
    if flag:
        return ConfigSource(ConfigSourceKind.FLAG, Path(flag).expanduser())
    init_options = init_options or {}
    if init_options.get("config") is not None:
        return ConfigSource(ConfigSourceKind.INLINE, inline=init_options["config"])
    if init_options.get("configPath"):
        return ConfigSource(
            ConfigSourceKind.INIT_PATH, Path(str(init_options["configPath"])).expanduser()
        )
    env = os.environ.get("BYTEBUDDY_CONFIG")
    if env:
        return ConfigSource(ConfigSourceKind.ENV, Path(env).expanduser())
    if workspace_root is not None:
        candidate = workspace_root / WORKSPACE_CONFIG
        if candidate.is_file():
            return ConfigSource(ConfigSourceKind.WORKSPACE, candidate)
    user = user_config_path()
    if user.is_file():
        return ConfigSource(ConfigSourceKind.USER, user)
    return None
