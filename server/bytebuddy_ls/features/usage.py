"""``bytebuddy/usage`` (the ledger's report), budget alerts and the status ``budget`` field.

The accounting itself (ledger, prices, budgets, audit, metrics) is in ``usage``; this
module connects it to the editor: problems and alerts as ``window/showMessage`` (each
once), the most used budget in every ``bytebuddy/status``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..lsp_types import USAGE_METHOD, UsageParams

if TYPE_CHECKING:
    from ..server import ByteBuddyServer
    from ..usage.accounting import Accounting
    from ..usage.budgets import Alert



def create_accounting(server: ByteBuddyServer) -> Accounting:
    """The server's accounting, following its config; started at once."""
    from ..config.schema import ROUTER_BASE
    from ..inference.client import ROUTER_URL_ENV
    from ..state import state_dir
    from ..usage.accounting import Accounting

    def alert(alert: Alert) -> None:
        kind = types.MessageType.Warning if alert.threshold >= 0.8 else types.MessageType.Info
        server.status.show_once(f"budget:{alert.message}", alert.message, kind)

    def report(cause: str, message: str) -> None:
        server.status.show_once(cause, message, types.MessageType.Warning)

    accounting = Accounting(
        state_dir=state_dir(),
        router_base=os.environ.get(ROUTER_URL_ENV) or ROUTER_BASE,
        report=report,
        alert=alert,
        budget_changed=lambda: server.status.set_budget(accounting.budget_status()),
    )
    if server.metrics is not None:
        accounting.metrics = server.metrics
        gauges = server.metrics.gauges
        # Read on the metrics thread: nothing here may create a service.
        gauges.models = lambda: [m.name for m in server.config.models]
        gauges.breaker_state = server.breaker_state
        gauges.budgets = lambda: accounting.budgets.ratios()
        gauges.in_flight = server.upstream_in_flight
    accounting.start()
    return accounting


async def usage_report(server: ByteBuddyServer, params: UsageParams | None) -> dict[str, Any]:
    from ..usage.ledger import GROUPINGS, LedgerError
    from ..usage.report import DEFAULT_SINCE, parse_since, to_json

    since_text = (params.since if params else None) or DEFAULT_SINCE
    by = (params.by if params else None) or "model"
    if by not in GROUPINGS:
        raise JsonRpcInvalidParams(f"{USAGE_METHOD}: 'by' must be one of {', '.join(GROUPINGS)}")
    try:
        since = parse_since(since_text)
    except ValueError as exc:
        raise JsonRpcInvalidParams(f"{USAGE_METHOD}: {exc}") from None
    try:
        lines = await server.accounting.usage(since, by)
    except LedgerError as exc:
        lines = []
        server.status.show_once("usage:ledger", str(exc), types.MessageType.Warning)
    return to_json(lines, by, since)


def register(server: ByteBuddyServer) -> None:
    @server.feature(USAGE_METHOD)
    async def usage(params: UsageParams | None) -> dict[str, Any]:
        return await usage_report(server, params)
