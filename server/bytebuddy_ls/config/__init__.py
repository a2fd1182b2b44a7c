"""Configuration: schema, loading with located errors, discovery, tokens, roles, watching."""

from .discovery import ConfigSource, find_config, searched_locations
from .loader import (
    ConfigError,
    ConfigSourceKind,
    Diagnostic,
    LoadedConfig,
    load_config_data,
    load_config_file,
    load_config_text,
)
from .roles import ROLE_FALLBACKS, models_for_role
from .schema import ROLES, Config, ModelConfig, PromptConfig, Role
from .state import ConfigState, ReloadOutcome
from .tokens import Token, is_hf_host, is_loopback_host, resolve_token

__all__ = [
    "ROLES",
    "ROLE_FALLBACKS",
    "Config",
    "ConfigError",
    "ConfigSource",
    "ConfigSourceKind",
    "ConfigState",
    "Diagnostic",
    "LoadedConfig",
    "ModelConfig",
    "PromptConfig",
    "ReloadOutcome",
    "Role",
    "Token",
    "find_config",
    "is_hf_host",
    "is_loopback_host",
    "load_config_data",
    "load_config_file",
    "load_config_text",
    "models_for_role",
    "resolve_token",
    "searched_locations",
]
