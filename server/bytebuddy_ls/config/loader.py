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
from .schema import ALL_ROLES, BUNDLED_LOCAL_MODEL, IGNORED_TOP_LEVEL_KEYS, Config, ModelConfig
from .trust import (
    INTERPOLATION,
    Provenance,
    Reach,
    TrustStore,
    digest_bytes,
    digest_inline,
    reach_of,
    variables_in,
)

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
    provenance: Provenance = Provenance.USER
    # False for a workspace config the user has not trusted (see ``trust``).
    trusted: bool = True
    digest: str = ""  # SHA-256 of the exact content, what trusting it records
    reach: Reach = field(default_factory=Reach)


@dataclass(frozen=True)
class Trust:
    """How a config is to be loaded: its provenance, and the store of trusted digests."""

    provenance: Provenance = Provenance.USER
    store: TrustStore | None = None

    def trusts(self, digest: str) -> bool:
        if self.provenance is Provenance.USER:
            return True
        return (self.store or TrustStore()).is_trusted(digest)


USER_TRUST = Trust()
# Keys whose values alias expansion may multiply, at most (a real config has hundreds).
MAX_YAML_NODES = 100_000
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


def load_config_file(
    path: str | Path, kind: ConfigSourceKind, *, trust: Trust = USER_TRUST
) -> LoadedConfig:
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
    return load_config_text(text, origin, kind, path=path, trust=trust, digest=digest_bytes(raw))


def load_config_text(
    text: str,
    origin: str,
    kind: ConfigSourceKind,
    *,
    path: Path | None = None,
    trust: Trust = USER_TRUST,
    digest: str | None = None,
) -> LoadedConfig:
    marks = _Marks()
    try:
        _check_expansion(text, origin)
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            marks.record(node)  # in the try: a recursive alias (&a [*a]) recurses here
    except ConfigError:
        raise
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
    digest = digest or digest_bytes(text.encode("utf-8"))
    return _validate(data, origin, kind, marks, path, trust, digest)


def load_config_data(
    data: Any, origin: str, kind: ConfigSourceKind, *, trust: Trust = USER_TRUST
) -> LoadedConfig:
    """Validate an already-parsed object (``initializationOptions.config``)."""
    return _validate(data, origin, kind, _Marks(), None, trust, digest_inline(data))


def _check_expansion(text: str, origin: str) -> None:
    """Refuse YAML whose aliases expand to more than ``MAX_YAML_NODES`` nodes (an alias
    "bomb": a few hundred bytes that every later step would walk billions of times).

    Counted on the event stream, so nothing is expanded to find out."""
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = [(None, 0)]
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor or ""
            if anchor not in sizes:
                raise ConfigError(
                    [_at(origin, event, f"alias *{anchor} refers to itself (a recursive alias)")]
                )
            grown = sizes[anchor]
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append((event.anchor, 1))
            continue
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            closed, grown = stack.pop()
            if closed is not None:
                sizes[closed] = grown
            name, count = stack.pop()
            stack.append((name, count + grown))
            continue
        elif isinstance(event, yaml.ScalarEvent):
            grown = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        else:
            continue
        total += grown
        if total > MAX_YAML_NODES:
            raise ConfigError(
                [
                    _at(
                        origin,
                        event,
                        f"YAML aliases expand to more than {MAX_YAML_NODES:,} values "
                        "(an alias bomb?): refused",
                    )
                ]
            )
        name, count = stack.pop()
        stack.append((name, count + grown))


def _at(origin: str, event: Any, message: str) -> Diagnostic:
    mark = event.start_mark
    return Diagnostic(origin, mark.line + 1, mark.column + 1, message)


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
    data: Any,
    origin: str,
    kind: ConfigSourceKind,
    marks: _Marks,
    path: Path | None,
    trust: Trust,
    digest: str,
) -> LoadedConfig:
    diag = _Located(origin, marks)
    if not isinstance(data, Mapping):
        raise ConfigError([diag((), "config must be a mapping with a 'models:' list")])
    if "models" not in data:
        raise ConfigError([diag((), "missing 'models:' list (see config.example.yaml)")])

    warnings: list[Diagnostic] = []
    data = dict(data)
    _drop_unused_top_level(data, diag, warnings)

    trusted = trust.trusts(digest)
    reach = reach_of(data)
    unusable = _prepare_models(data, diag, warnings, trusted=trusted, path=path)
    if trusted:
        _interpolate_top_level(data, diag, warnings)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_diagnostics(exc, diag)) from None

    if unusable or not trusted:
        config = config.model_copy(
            update={
                "models": [
                    m.model_copy(update={"unusable": unusable.get(i), "trusted": trusted})
                    for i, m in enumerate(config.models)
                ]
            }
        )
    for loc, key in _unknown_keys(config):
        warnings.append(diag(loc, f"unknown key '{key}' (ignored)", "warning", key=True))
    for model in config.models:
        _register_secrets(model)
        _note_legacy_api_base(model)
    return LoadedConfig(
        config,
        origin,
        kind,
        path,
        tuple(warnings),
        provenance=trust.provenance,
        trusted=trusted,
        digest=digest,
        reach=reach,
    )


def trust_hint(origin: str, path: Path | None) -> str:
    """How to trust the config at ``origin``."""
    if path is not None:
        return f"trust it with `bytebuddy-ls trust {path}` (or answer Trust when asked)"
    return "trust it when asked, or move it to your user settings"


def _restrict_untrusted(
    model: dict[str, Any],
    name: str,
    origin: str,
    path: Path | None,
    warnings: list[Diagnostic],
    index: int,
    diag: Any,
) -> str | None:
    """Strip what an untrusted workspace config may not use; why the model cannot run
    until trusted, or None when it may (without any of the user's secrets)."""
    hint = trust_hint(origin, path)
    options = model.get("requestOptions")
    if isinstance(options, Mapping):
        options = dict(options)
        if options.pop("headers", None):
            warnings.append(
                diag(
                    ("models", index, "requestOptions", "headers"),
                    f"model '{name}': custom headers are ignored until you trust this "
                    f"workspace config; {hint}",
                    "warning",
                )
            )
        if options.get("verifySsl") is False:
            options["verifySsl"] = True
            warnings.append(
                diag(
                    ("models", index, "requestOptions", "verifySsl"),
                    f"model '{name}': verifySsl: false is ignored until you trust this "
                    f"workspace config",
                    "warning",
                )
            )
        model["requestOptions"] = options
    variables = variables_in(model)
    if variables:
        # Kept verbatim (never expanded), except where a literal would be sent as a credential
        # or make the URL invalid: the model is shown, and runs once trusted.
        for key in ("apiKey", "apiBase"):
            if variables_in(model.get(key)):
                model.pop(key, None)
        names = ", ".join(f"${v}" for v in variables)
        return f"model '{name}' reads {names}: this workspace config is not trusted; {hint}"
    base = model.get("apiBase")
    if isinstance(base, str) and not base.strip().lower().startswith("https://"):
        return (
            f"model '{name}' uses {base.strip()}: an untrusted workspace config may use only "
            f"https:// servers; {hint}"
        )
    provider = str(model.get("provider", "")).strip().lower()
    if provider in ("llamacpp", "llama-cpp-python") and model.get("model") != BUNDLED_LOCAL_MODEL:
        return (
            f"model '{name}' loads a local model file: this workspace config is not trusted; {hint}"
        )
    return None


def _drop_unused_top_level(
    data: dict[str, Any], diag: _Located, warnings: list[Diagnostic]
) -> None:
    """Remove (with a warning) the top-level keys bytebuddy-ls does not use."""
    for key in data:
        if key == "allowedApiHosts":
            warnings.append(
                diag(
                    (key,),
                    "'allowedApiHosts' is no longer used: a workspace config is trusted by "
                    "its content instead (`bytebuddy-ls trust PATH`)",
                    "warning",
                    key=True,
                )
            )
        elif key in IGNORED_TOP_LEVEL_KEYS:
            warnings.append(
                diag((key,), f"'{key}' is not used by bytebuddy-ls", "warning", key=True)
            )
    for key in IGNORED_TOP_LEVEL_KEYS:
        data.pop(key, None)
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


def _interpolate_top_level(
    data: dict[str, Any], diag: _Located, warnings: list[Diagnostic]
) -> None:
    for key in ("prompts",):
        if data.get(key) is not None:
            leftover = _interpolate_in_place(data, key)
            if leftover:
                warnings.append(
                    diag((key,), f"environment variable ${{{leftover[0]}}} is not set", "warning")
                )


def _prepare_models(
    data: dict[str, Any],
    diag: _Located,
    warnings: list[Diagnostic],
    *,
    trusted: bool,
    path: Path | None,
) -> dict[int, str]:
    """Interpolate each model's ``${VAR}``s (trusted configs) or restrict it (untrusted
    ones), and drop roles bytebuddy-ls does not serve, in place; returns why a model is
    unusable (a variable is not set, or what an untrusted config may not do), by index."""
    unusable: dict[int, str] = {}
    models = data.get("models")
    if not isinstance(models, list):
        return unusable
    models = [dict(m) if isinstance(m, Mapping) else m for m in models]
    data["models"] = models
    for index, model in enumerate(models):
        if not isinstance(model, dict):
            continue
        name = str(model.get("name", f"models[{index}]"))
        if trusted:
            missing = _interpolate_in_place(model)
            if missing:
                names = ", ".join(f"${{{v}}}" for v in missing)
                unusable[index] = (
                    f"model '{name}' is disabled: environment variable {names} is not set"
                )
        else:
            reason = _restrict_untrusted(model, name, diag.origin, path, warnings, index, diag)
            if reason:
                unusable[index] = reason
        if index in unusable:
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
            secrets.add(value)  # whatever a config reads from the environment may be secret
            return value

        return INTERPOLATION.sub(one, text)

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
    for value in model.requestOptions.headers.values():
        secrets.add(value)
        secrets.add(value.split()[-1] if value.split() else value)
    if model.apiBase is not None:
        secrets.add_url(model.apiBase)


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
