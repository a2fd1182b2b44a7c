"""``bytebuddy/models`` and the ``bytebuddy.selectModel`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pygls.exceptions import JsonRpcInvalidParams

from ..config import ROLES, Role

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

MODELS_METHOD = "bytebuddy/models"
SELECT_COMMAND = "bytebuddy.selectModel"


class SelectModelArgs(BaseModel):
    role: Role
    name: str


def model_table(server: ByteBuddyServer) -> list[dict[str, Any]]:
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


def register(server: ByteBuddyServer) -> None:
    @server.feature(MODELS_METHOD)
    def list_models(_params: Any) -> list[dict[str, Any]]:
        return model_table(server)

    @server.command(SELECT_COMMAND)
    def select_model(*args: Any) -> dict[str, Any]:
        payload = args[0] if len(args) == 1 else None
        try:
            parsed = SelectModelArgs.model_validate(payload)
        except ValidationError as exc:
            raise JsonRpcInvalidParams(
                "bytebuddy.selectModel expects one argument {role, name}, role one of "
                f"{', '.join(ROLES)}: {exc.errors(include_url=False)[0]['msg']}"
            ) from None
        try:
            model = server.config.select(parsed.role, parsed.name)
        except ValueError as exc:
            raise JsonRpcInvalidParams(f"bytebuddy.selectModel: {exc}") from None
        server.status.set(
            "ready", f"{parsed.role} → {model.name}", model=model.name, role=parsed.role
        )
        server.notify_config_changed()
        return {"role": parsed.role, "name": model.name}
