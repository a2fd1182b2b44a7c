"""Configuration: schema, loading with located errors, discovery, tokens, roles, watching."""

from .discovery import ConfigSource, find_config, searched_locations
from .loader import (
    ConfigError,
    ConfigSourceKind,
    Diagnostic,
    LoadedConfig,
    Trust,
    load_config_data,
    load_config_file,
    load_config_text,
)
from .roles import ROLE_FALLBACKS, models_for_role
from .schema import ROLES, Config, ModelConfig, PromptConfig, Role
from .state import ConfigState, ReloadOutcome
from .tokens import Token, resolve_token
from .trust import Provenance, Reach, TrustStore, is_hf_host, is_loopback_host

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
    "Provenance",
    "Reach",
    "ReloadOutcome",
    "Role",
    "Token",
    "Trust",
    "TrustStore",
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
