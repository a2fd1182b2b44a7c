"""The manifest the server advertises at initialize matches what the modules register."""

from __future__ import annotations

from bytebuddy_ls.features import MANIFEST
from bytebuddy_ls.server import build_server


def test_manifest_matches_the_modules() -> None:
    server = build_server()
    advertised_methods = {m: o for module in MANIFEST for m, o in module.methods.items()}
    advertised_commands = {c for module in MANIFEST for c in module.commands}
    server.load()
    registered_methods = set(server._handlers)
    assert registered_methods == set(advertised_methods)
    assert set(server._commands) == advertised_commands


def test_modules_register_the_advertised_options() -> None:
    from typing import Any, cast

    from bytebuddy_ls.server import ByteBuddyServer, _Registrar

    server = build_server()
    server.load()
    for module in MANIFEST:
        import importlib

        registrar = _Registrar(server)
        importlib.import_module(f"bytebuddy_ls.features.{module.name}").register(
            cast(ByteBuddyServer, registrar)
        )
        options: dict[str, Any] = {m: o for m, (_, o) in registrar.features.items()}
        assert options == module.methods, module.name
        assert tuple(registrar.commands) == module.commands, module.name
