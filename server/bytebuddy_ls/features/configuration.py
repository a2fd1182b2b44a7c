"""Config lifecycle: load at start-up, watch the file, settings changes, reload command.

A bad edit keeps the last good config and is reported once; no config at all
leaves the server running in the ``unconfigured`` state with how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from ..log import logger, register_secret_values, setup_logging
from ..lsp_types import RELOAD_COMMAND

if TYPE_CHECKING:
    from ..config import ConfigError, LoadedConfig, ReloadOutcome
    from ..server import ByteBuddyServer


def unconfigured_message(server: ByteBuddyServer) -> str:
    from ..config import searched_locations
    from ..config.discovery import no_config_hint

    places = "; ".join(searched_locations(server.config.workspace_root))
    return (
        "bytebuddy-ls has no model config. Create ~/.bytebuddy/config.yaml "
        "(copy config.example.yaml from the bytebuddy-ls README) or point the editor "
        f"setting 'configPath' at one. Looked in: {places}. {no_config_hint()}"
    )


def embedded_message() -> str:
    from ..config.discovery import embedded_model_summary

    return (
        "bytebuddy-ls found no config (and no Hugging Face token), so every role uses the "
        f"bundled local model, offline, on the CPU ({embedded_model_summary()}). For real "
        "work, create ~/.bytebuddy/config.yaml with a Hugging Face model."
    )


def role_summary(server: ByteBuddyServer) -> str:
    from ..config import ROLES

    parts = []
    for role in ROLES:
        chain = server.config.chain(role)
        parts.append(f"{role} → {chain[0].name if chain else '—'}")
    return ", ".join(parts)


def apply_reload(server: ByteBuddyServer, outcome: ReloadOutcome) -> None:
    """Turn a reload outcome into status, messages and feature refreshes."""
    from ..config import ConfigSourceKind

    state = server.config
    if outcome.error is not None:
        if outcome.new_error:
            _report_config_error(server, outcome.error)
        return
    if outcome.changed or state.loaded is None:
        server.status.forget("config:")
    if state.loaded is None:
        server.status.set("unconfigured", unconfigured_message(server))
        server.status.show_once(
            "unconfigured", unconfigured_message(server), types.MessageType.Info
        )
        server.notify_config_changed()
        return
    for warning in state.loaded.warnings:
        logger.warning("%s", warning)
    if outcome.changed:
        logger.info("config loaded from %s: %s", state.loaded.origin, role_summary(server))
        server.notify_config_changed()
    embedded = state.loaded.kind is ConfigSourceKind.EMBEDDED
    if embedded:
        server.status.show_once("embedded", embedded_message(), types.MessageType.Info)
    _set_loaded_status(server, state.loaded, embedded)
    server.trust.check(state.loaded)


def _report_config_error(server: ByteBuddyServer, error: ConfigError) -> None:
    """Tell a new config error once, saying whether the last good config stays in use."""
    first = error.diagnostics[0]
    keeping = " (keeping the last good config)" if server.config.loaded else ""
    more = len(error.diagnostics) - 1
    extra = f" (+{more} more; run `bytebuddy-ls check-config`)" if more else ""
    server.status.show_once(
        f"config:{error}",
        f"bytebuddy-ls config error{keeping}: {first}{extra}",
    )
    server.status.set("error", f"config error: {first}")


def _set_loaded_status(server: ByteBuddyServer, loaded: LoadedConfig, embedded: bool) -> None:
    """The status once a config is loaded: which model serves each role, and why the
    server may run without the user's secrets or on the bundled model."""
    if not server.settings.autocomplete.enabled:
        server.status.set("disabled", "autocomplete is off")
    elif embedded:
        summary = f"bundled local model (no config found): {role_summary(server)}"
        server.status.set("ready", summary, model=loaded.config.models[0].name)
    elif not loaded.trusted:
        from ..config.loader import trust_hint

        server.status.set(
            "ready",
            f"{role_summary(server)} (workspace config not trusted: it runs without your "
            f"secrets; {trust_hint(loaded.origin, loaded.path)})",
        )
    else:
        server.status.set("ready", role_summary(server))


def _workspace_folders(params: types.InitializeParams) -> list[Path]:
    """Every workspace folder (the first is the root), as paths."""
    uris = [folder.uri for folder in params.workspace_folders or []]
    if not uris and params.root_uri:
        uris = [params.root_uri]
    folders = []
    for uri in uris:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path:
            folders.append(Path(path))
    if not folders and params.root_path:
        folders.append(Path(params.root_path))
    return folders


def _editor_sources(options: dict[str, Any], settings: Any) -> None:
    """Where the editor's config settings came from (``sources``), at either level."""
    for raw in (settings, options):
        if isinstance(raw, dict) and isinstance(raw.get("sources"), dict):
            options["sources"] = dict(raw["sources"])
            return


def start(server: ByteBuddyServer, params: types.InitializeParams) -> None:
    """After the handshake: read the settings, load the config and start watching it."""
    from ..config.settings import parse_settings

    options: dict[str, Any] = (
        dict(params.initialization_options)
        if isinstance(params.initialization_options, dict)
        else {}
    )
    # Settings may come nested ({"settings": {...}}) or flat, like VS Code sends them.
    raw_settings = options.get("settings", options)
    server.settings = parse_settings(raw_settings)
    _editor_sources(options, raw_settings)
    if server.settings.configPath and not options.get("configPath"):
        options["configPath"] = server.settings.configPath
    if server.settings.logLevel:
        setup_logging(server.settings.logLevel, server.log_file)
    server.documents.encoding = str(server.workspace.position_encoding or "utf-16")
    state = server.config
    state.init_options = options
    folders = _workspace_folders(params)
    state.workspace_root = folders[0] if folders else None
    state.workspace_folders = folders
    state.editor_config = server.editor_config
    if not server.editor_config and (options.get("config") or options.get("configPath")):
        logger.warning(
            "ignoring the editor's config/configPath: over TCP any local process could "
            "send one (use --config, or serve --socket)"
        )
    apply_reload(server, state.reload(force=True))
    server.spawn(state.watch(lambda outcome: apply_reload(server, outcome)))


def settings_changed(server: ByteBuddyServer, params: types.DidChangeConfigurationParams) -> None:
    from ..config import ReloadOutcome
    from ..config.settings import parse_settings

    before = server.settings
    register_secret_values(params.settings)
    server.settings = parse_settings(params.settings, before)
    raw = params.settings
    raw = raw.get("bytebuddy", raw) if isinstance(raw, dict) else raw
    sources_before = server.config.init_options.get("sources")
    _editor_sources(server.config.init_options, raw)
    sources_changed = server.config.init_options.get("sources") != sources_before
    if server.settings.logLevel and server.settings.logLevel != before.logLevel:
        setup_logging(server.settings.logLevel, server.log_file)
    if server.settings.configPath != before.configPath or sources_changed:
        if server.settings.configPath:
            server.config.init_options["configPath"] = server.settings.configPath
        else:
            server.config.init_options.pop("configPath", None)
        apply_reload(server, server.config.reload(force=True))
    elif server.settings.autocomplete.enabled != before.autocomplete.enabled:
        apply_reload(server, ReloadOutcome(False, None, False))
    elif server.settings.context != before.context:
        server.notify_config_changed()


def reload_config(server: ByteBuddyServer) -> dict[str, Any]:
    from ..config import ReloadOutcome

    outcome = server.config.reload(force=True)
    if outcome.error is not None:
        # An explicit reload always answers with the error, even if shown before.
        server.status.forget(f"config:{outcome.error}")
        outcome = ReloadOutcome(outcome.changed, outcome.error, True)
    apply_reload(server, outcome)
    loaded = server.config.loaded
    return {
        "ok": outcome.error is None and loaded is not None,
        "source": loaded.origin if loaded else None,
        "errors": [str(d) for d in outcome.error.diagnostics] if outcome.error else [],
        "warnings": [str(w) for w in loaded.warnings] if loaded else [],
    }


def register(server: ByteBuddyServer) -> None:
    initialize_params: list[types.InitializeParams] = []

    @server.feature(types.INITIALIZE)
    def on_initialize(params: types.InitializeParams) -> None:
        # Only remembered: the editor waits for this answer, so the work waits for
        # ``initialized``. An inline config's secrets are known before anything logs.
        register_secret_values(params.initialization_options)
        initialize_params.append(params)

    @server.feature(types.INITIALIZED)
    def on_initialized(_params: types.InitializedParams) -> None:
        if initialize_params:
            start(server, initialize_params.pop())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_settings(params: types.DidChangeConfigurationParams) -> None:
        settings_changed(server, params)

    @server.command(RELOAD_COMMAND)
    def reload(*_args: Any) -> dict[str, Any]:
        return reload_config(server)
