"""The config as the command line shows it: loading for a CLI command (with errors
printed once), ``check-config`` and the role → model table."""

from __future__ import annotations

import sys
from pathlib import Path

from ..log import redact, setup_logging
from . import (
    ROLES,
    ConfigError,
    ConfigSourceKind,
    LoadedConfig,
    find_config,
    load_config_data,
    load_config_file,
    models_for_role,
    searched_locations,
)
from .discovery import (
    WORKSPACE_CONFIG,
    embedded_default_applies,
    embedded_model_summary,
    no_config_hint,
)
from .loader import Trust, load_config_text
from .trust import TrustStore, digest_bytes


def load_for_cli(path: str | None, *, embedded: bool = True) -> LoadedConfig | None:
    """The config a CLI command uses: PATH, else the same search as the server
    (minus initializationOptions), with the current directory as workspace root;
    ``embedded`` allows the embedded default (bundled local model) as the last resort."""
    if path:
        return load_config_file(path, ConfigSourceKind.FLAG)
    source = find_config(workspace_root=Path.cwd(), embedded=embedded)
    if source is None:
        return None
    trust = Trust(source.provenance)
    if source.path is None:
        return load_config_data(source.inline, source.describe(), source.kind, trust=trust)
    return load_config_file(source.path, source.kind, trust=trust)


def check_config(path: str | None) -> int:
    setup_logging("warning")
    try:
        # Only files are checked: the embedded default is not a config to validate.
        loaded = load_for_cli(path, embedded=False)
    except ConfigError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        print(f"config is invalid ({len(exc.diagnostics)} error(s))", file=sys.stderr)
        return 1
    if loaded is None:
        print("no config found; looked in:", file=sys.stderr)
        for place in searched_locations(Path.cwd()):
            print(f"  {place}", file=sys.stderr)
        if embedded_default_applies():
            print(
                "without one, bytebuddy-ls uses the bundled local model "
                f"({embedded_model_summary()})",
                file=sys.stderr,
            )
        else:
            print(no_config_hint(), file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        print(f"{warning.origin}:{warning.line}:{warning.column}: warning: {warning.message}")
    from ..inference.routing import unsent_options

    for model in loaded.config.models:
        note = unsent_options(model)
        if note:
            print(f"{loaded.origin}: note: model '{model.name}': {note}")
    print(f"config: {loaded.origin}")
    print(format_role_table(loaded))
    return 0


def format_role_table(loaded: LoadedConfig) -> str:
    rows = [("ROLE", "MODEL", "PROVIDER", "HUB ID", "FALLBACKS")]
    listed_roles = [*ROLES]
    if any("embed" in m.roles for m in loaded.config.models):
        listed_roles.append("embed")
    for role in listed_roles:
        chain = models_for_role(loaded.config, role)
        if chain:
            first = chain[0]
            fallbacks = ", ".join(m.name for m in chain[1:]) or "-"
            rows.append((role, first.name, first.provider, first.model, fallbacks))
        else:
            rows.append((role, "-", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    disabled = [m for m in loaded.config.models if m.unusable]
    lines += [f"disabled: {m.unusable}" for m in disabled]
    return "\n".join(lines)


def load_or_report(path: str | None) -> LoadedConfig | None:
    """``load_for_cli`` for commands that need a model: problems go to stderr, once."""
    try:
        loaded = load_for_cli(path)
    except ConfigError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        return None
    if loaded is None:
        print(
            "no config found: pass --config PATH or create ~/.bytebuddy/config.yaml",
            file=sys.stderr,
        )
    return loaded


def trust_config(path: str | None, *, store: TrustStore | None = None) -> int:
    """``bytebuddy-ls trust [PATH]``: trust this exact content of a workspace config.

    PATH: a config file or a folder holding ``.bytebuddy/config.yaml`` (default: the
    current directory). The content is validated, what it reads and contacts is shown,
    and its SHA-256 is recorded; any later edit makes it untrusted again."""
    setup_logging("warning")
    target = Path(path).expanduser() if path else Path.cwd()
    if target.is_dir():
        target = target / WORKSPACE_CONFIG
    try:
        raw = target.read_bytes()
    except OSError as exc:
        print(f"cannot read {target}: {exc.strerror}", file=sys.stderr)
        return 1
    digest = digest_bytes(raw)
    try:
        loaded = load_config_text(
            raw.decode("utf-8-sig"), str(target), ConfigSourceKind.WORKSPACE, digest=digest
        )
    except UnicodeDecodeError:
        print(f"{target}: not UTF-8 text", file=sys.stderr)
        return 1
    except ConfigError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        print("not trusted: fix the config first", file=sys.stderr)
        return 1
    store = store or TrustStore()
    resolved = target.resolve()
    print(redact(f"{resolved} {loaded.reach.describe()}."))
    store.trust(digest, str(resolved))
    print(f"trusted ({digest[:19]}…); an edit makes it untrusted again")
    return 0
