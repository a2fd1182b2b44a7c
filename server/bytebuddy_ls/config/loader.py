"""Load a config from YAML text or an inline object, with errors that point at the place.

YAML is parsed twice: ``safe_load`` for the data and ``compose`` for node marks, so a
pydantic error location like ``("models", 1, "provider")`` maps to ``file:line:col``.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..log import logger, secrets
from .schema import ALL_ROLES, IGNORED_TOP_LEVEL_KEYS, Config, ModelConfig

Loc = tuple[str | int, ...]


class ConfigSourceKind(str, enum.Enum):
    """Where a config came from; decides how far its secrets may travel."""

    FLAG = "flag"  # --config PATH: chosen explicitly by the user
    INLINE = "inline"  # initializationOptions.config
    INIT_PATH = "init-path"  # initializationOptions.configPath
    ENV = "env"  # $BYTEBUDDY_CONFIG
    WORKSPACE = "workspace"  # <root>/.bytebuddy/config.yaml: comes with a repository
    USER = "user"  # ~/.bytebuddy/config.yaml
    EMBEDDED = "embedded"


@dataclass(frozen=True)
class Diagnostic:
    origin: str
    line: int
    column: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.origin}:{self.line}:{self.column}: {self.message}"


class ConfigError(Exception):
    """The only exception the loader raises; every problem carries a location."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    origin: str  # a path, or a label like "initializationOptions.config"
    kind: ConfigSourceKind
    path: Path | None = None
    warnings: tuple[Diagnostic, ...] = field(default_factory=tuple)


_INTERPOLATION = re.compile(
    r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|\$\{([A-Za-z_][A-Za-z0-9_]*)\}"
)
_MAX_CONFIG_BYTES = 1_000_000
_legacy_noted: set[tuple[str, str]] = set()


class _Marks:
    """YAML positions (1-based) of values and keys, by path."""

    def __init__(self) -> None:
        self.values: dict[Loc, tuple[int, int]] = {}
        self.keys: dict[Loc, tuple[int, int]] = {}

    def record(self, node: yaml.Node, path: Loc = ()) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    child = (*path, key_node.value)
                    self.keys[child] = (
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                    self.record(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.record(item, (*path, index))

    def at(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """The mark of ``loc``, or of its nearest recorded ancestor."""
        if key and loc in self.keys:
            return self.keys[loc]
        while loc:
            if loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get((), (1, 1))


def load_config_file(path: str | Path, kind: ConfigSourceKind) -> LoadedConfig:
    path = Path(path).expanduser()
    origin = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Diagnostic(origin, 1, 1, "config file not found")]) from None
    except OSError as exc:
        raise ConfigError(
            [Diagnostic(origin, 1, 1, f"cannot read config: {exc.strerror}")]
        ) from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise ConfigError([Diagnostic(origin, 1, 1, "config file is larger than 1 MB")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Diagnostic(origin, 1, 1, f"config is not UTF-8 text (byte {exc.start})")]
        ) from None
    return load_config_text(text, origin, kind, path=path)


def load_config_text(
    text: str, origin: str, kind: ConfigSourceKind, *, path: Path | None = None
) -> LoadedConfig:
    marks = _Marks()
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            marks.record(node)  # in the try: a recursive alias (&a [*a]) recurses here
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        raise ConfigError([Diagnostic(origin, line, col, message)]) from None
    except Exception as exc:  # pyyaml raises odd errors on hostile input (recursion, etc.)
        raise ConfigError([Diagnostic(origin, 1, 1, f"cannot parse YAML: {exc}")]) from None
    if data is None:
        raise ConfigError([Diagnostic(origin, 1, 1, "config is empty: it needs a 'models:' list")])
    return _validate(data, origin, kind, marks, path)


def load_config_data(data: Any, origin: str, kind: ConfigSourceKind) -> LoadedConfig:
    """Validate an already-parsed object (``initializationOptions.config``)."""
    return _validate(data, origin, kind, _Marks(), None)


@dataclass(frozen=True)
class _Located:
    """Makes diagnostics that point at a place of one config source."""

    origin: str
    marks: _Marks

    def __call__(
        self, loc: Loc, message: str, severity: str = "error", *, key: bool = False
    ) -> Diagnostic:
        line, col = self.marks.at(loc, key=key)
        return Diagnostic(self.origin, line, col, message, severity)


def _validate(
    data: Any, origin: str, kind: ConfigSourceKind, marks: _Marks, path: Path | None
) -> LoadedConfig:
    diag = _Located(origin, marks)
    if not isinstance(data, Mapping):
        raise ConfigError([diag((), "config must be a mapping with a 'models:' list")])
    if "models" not in data:
        raise ConfigError([diag((), "missing 'models:' list (see config.example.yaml)")])

    warnings: list[Diagnostic] = []
    data = dict(data)
    for key in IGNORED_TOP_LEVEL_KEYS:
        if key in data:
            warnings.append(
                diag((key,), f"'{key}' is not used by bytebuddy-ls", "warning", key=True)
            )
            del data[key]
    if isinstance(data.get("context"), list):
        # Continue's list of context providers: not this server's ``context`` settings.
        warnings.append(
            diag(
                ("context",),
                "'context' is not used in this form (a list of context providers); "
                "bytebuddy-ls reads context: {enabled, index, maxFiles, maxTokens, exclude}",
                "warning",
                key=True,
            )
        )
        data.pop("context")
    unusable = _prepare_models(data, diag, warnings)
    _interpolate_top_level(data, diag, warnings)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_diagnostics(exc, diag)) from None

    if unusable:
        config = config.model_copy(
            update={
                "models": [
                    m.model_copy(update={"unusable": unusable[i]}) if i in unusable else m
                    for i, m in enumerate(config.models)
                ]
            }
        )
    for loc, key in _unknown_keys(config):
        warnings.append(diag(loc, f"unknown key '{key}' (ignored)", "warning", key=True))
    for model in config.models:
        _register_secrets(model)
        _note_legacy_api_base(model)
    return LoadedConfig(config, origin, kind, path, tuple(warnings))


def _interpolate_top_level(
    data: dict[str, Any], diag: _Located, warnings: list[Diagnostic]
) -> None:
    for key in ("prompts", "allowedApiHosts"):
        if data.get(key) is not None:
            leftover = _interpolate_in_place(data, key)
            if leftover:
                warnings.append(
                    diag((key,), f"environment variable ${{{leftover[0]}}} is not set", "warning")
                )


def _prepare_models(
    data: dict[str, Any], diag: _Located, warnings: list[Diagnostic]
) -> dict[int, str]:
    """Interpolate each model's ``${VAR}``s and drop roles bytebuddy-ls does not serve,
    in place; returns why a model is unusable (a variable is not set), by index."""
    unusable: dict[int, str] = {}
    models = data.get("models")
    if not isinstance(models, list):
        return unusable
    models = [dict(m) if isinstance(m, Mapping) else m for m in models]
    data["models"] = models
    for index, model in enumerate(models):
        if not isinstance(model, dict):
            continue
        missing = _interpolate_in_place(model)
        if missing:
            name = str(model.get("name", f"models[{index}]"))
            names = ", ".join(f"${{{v}}}" for v in missing)
            unusable[index] = f"model '{name}' is disabled: environment variable {names} is not set"
            warnings.append(diag(("models", index), unusable[index], "warning"))
        roles = model.get("roles")
        if isinstance(roles, list):
            model["roles"] = [r for r in roles if r in ALL_ROLES]
            warnings += [
                diag(
                    ("models", index, "roles", position),
                    f"role '{role}' is not served by bytebuddy-ls (roles: {', '.join(ALL_ROLES)}); "
                    "ignored",
                    "warning",
                )
                for position, role in enumerate(roles)
                if role not in ALL_ROLES
            ]
    return unusable


def _interpolate_in_place(container: dict[str, Any], only: str | None = None) -> list[str]:
    """Replace ``${VAR}`` / ``${{ secrets.VAR }}`` in string values; return missing names."""
    missing: list[str] = []

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            value = os.environ.get(name)
            if value is None:
                missing.append(name)
                return ""
            return value

        return _INTERPOLATION.sub(one, text)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return substitute(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        return value

    for key in [only] if only else list(container):
        container[key] = walk(container[key])
    return list(dict.fromkeys(missing))


def _pydantic_diagnostics(exc: ValidationError, diag: _Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        kind = error["type"]
        where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
        where = where.replace(".[", "[")
        if kind == "missing":
            parent = ".".join(str(p) for p in loc[:-1]) or "config"
            message = f"'{loc[-1]}' is required in {parent}"
            out.append(diag(loc[:-1], message))
            continue
        if kind == "literal_error" and loc and loc[-1] == "provider":
            message = f"unknown provider: {message}"
        elif kind.startswith("literal_error") and len(loc) >= 2 and loc[-2] == "roles":
            message = f"unknown role: {message}"
        if kind in (
            "string_type",
            "int_type",
            "float_type",
            "list_type",
            "dict_type",
            "bool_type",
            "model_type",
            "int_parsing",
            "float_parsing",
            "bool_parsing",
            "tuple_type",
            "model_attributes_type",
        ):
            got = type(error.get("input")).__name__
            message = f"{message} (got {got})"
        out.append(diag(loc, f"{where}: {message}" if where else message))
    return out


def _unknown_keys(model: BaseModel, path: Loc = ()) -> Iterator[tuple[Loc, str]]:
    for key in model.model_extra or {}:
        yield (*path, key), key
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _unknown_keys(value, (*path, name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _unknown_keys(item, (*path, name, index))


def _register_secrets(model: ModelConfig) -> None:
    if model.apiKey is not None:
        secrets.add(model.apiKey.get_secret_value())
    for header, value in model.requestOptions.headers.items():
        if any(word in header.lower() for word in ("auth", "key", "token", "secret")):
            secrets.add(value)
            secrets.add(value.split()[-1] if value.split() else value)


def _note_legacy_api_base(model: ModelConfig) -> None:
    if model.is_legacy_api_base and model.apiBase is not None:
        marker = (model.name, model.apiBase)
        if marker not in _legacy_noted:
            _legacy_noted.add(marker)
            logger.info(
                "model '%s': apiBase %s is the retired serverless API; using %s instead",
                model.name,
                model.apiBase,
                model.effective_api_base,
            )
