"""``bytebuddy/models`` and the ``bytebuddy.selectModel`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from ..lsp_types import MODELS_METHOD, SELECT_MODEL_COMMAND, SelectModelArgs

if TYPE_CHECKING:
    from ..server import ByteBuddyServer


def model_table(server: ByteBuddyServer) -> list[dict[str, Any]]:
    from ..config import ROLES

    serving: dict[str, list[str]] = {}
    for role in ROLES:
        chain = server.config.chain(role)
        if chain:
            serving.setdefault(chain[0].name, []).append(role)
    rows = []
    for model in server.config.models:
        row: dict[str, Any] = {
            "name": model.name,
            "model": model.model,
            "provider": model.provider,
            "roles": list(model.roles),
            "active": model.name in serving,
            "activeRoles": serving.get(model.name, []),
            "usable": model.unusable is None,
        }
        if model.unusable:
            row["error"] = model.unusable
        row.update(server.model_extras(model.name))
        rows.append(row)
    return rows


def select_model(server: ByteBuddyServer, args: SelectModelArgs) -> dict[str, Any]:
    from ..config import ROLES

    if args.role not in ROLES:
        raise JsonRpcInvalidParams(
            f"{SELECT_MODEL_COMMAND}: role must be one of {', '.join(ROLES)}, not '{args.role}'"
        )
    try:
        model = server.config.select(args.role, args.name)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"{SELECT_MODEL_COMMAND}: {exc}") from None
    server.status.set("ready", f"{args.role} → {model.name}", model=model.name, role=args.role)
    server.notify_config_changed()
    return {"role": args.role, "name": model.name}


def register(server: ByteBuddyServer) -> None:
    @server.feature(MODELS_METHOD)
    def list_models(_params: Any) -> list[dict[str, Any]]:
        return model_table(server)

    @server.command(SELECT_MODEL_COMMAND)
    def select(args: SelectModelArgs) -> dict[str, Any]:
        return select_model(server, args)
