"""``bytebuddy.apply {uri, code, range?}``: a code block into minimal ``workspace/applyEdit``
edits.

The plan comes from :func:`prompting.merge.plan_apply`: a whole file, a given range or
a fragment whose first/last lines locate a region is applied deterministically with no
model call; a block with "... existing code ..." placeholders (or no clear anchor)
goes to the ``apply`` model, whose merged code is spliced back. Either way the new
text is diffed into the fewest whole-line edits, and the deletion guard refuses a
result that would delete much code the block never mentioned (reported with
``window/showMessage``, nothing applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..documents import Document
from ..lsp_types import APPLY_COMMAND, ApplyArgs
from ..prompting.chat import range_to_lines
from ..prompting.edit import ApplyRequest, build_apply_messages, render_apply_prompt
from ..prompting.extract import extract_code
from ..prompting.merge import (
    deletion_guard,
    finish_model_apply,
    line_edit_offsets,
    minimal_edits,
    plan_apply,
)
from ..prompting.tokens import estimate_tokens
from .ask import ask_model
from .workspace import Snapshot, display_path, require_document, send_workspace_edit, show_message

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

# The merged answer may be as long as the region it rewrites plus the block.
MAX_MERGE_TOKENS = 8192


@dataclass(frozen=True)
class ApplyOutcome:
    """What applying a block would do: ``new_text`` is the whole new document (None when
    nothing is to be applied; ``reason`` says why)."""

    kind: str
    new_text: str | None
    reason: str
    model: str | None = None


def text_edits(document: Document, old: str, new: str) -> list[types.TextEdit]:
    """The minimal line edits from ``old`` (the document's text) to ``new``, as LSP edits
    in the client's position encoding."""
    edits = []
    for edit in minimal_edits(old, new):
        start, end = line_edit_offsets(old, edit)
        edits.append(
            types.TextEdit(
                range=types.Range(start=document.position_at(start), end=document.position_at(end)),
                new_text=edit.new_text,
            )
        )
    return edits


async def plan_outcome(
    server: ByteBuddyServer,
    document: Document,
    code: str,
    line_range: tuple[int, int] | None,
) -> ApplyOutcome:
    """Work out the new document for ``code``; asks the apply model only when needed."""
    text = document.text
    language = document.language_id or None
    plan = plan_apply(text, code, line_range, language=language)
    if plan.kind == "no_change":
        return ApplyOutcome(plan.kind, None, plan.reason)
    if plan.kind != "needs_model":
        assert plan.new_text is not None
        replaced = plan.region if plan.kind in ("range", "fragment") else None
        refusal = deletion_guard(text, plan.new_text, code, replaced=replaced)
        if refusal:
            return ApplyOutcome("refused", None, refusal)
        return ApplyOutcome(plan.kind, plan.new_text, plan.reason)
    request = ApplyRequest(
        document=text,
        code=code,
        language=language,
        path=display_path(server, document.uri),
        region=plan.region,
    )
    answer, model = await ask_model(
        server,
        "apply",
        build_apply_messages(request),
        render_prompt=lambda template, m: render_apply_prompt(
            request, template=template, model_id=m.model
        ),
        max_tokens=min(
            MAX_MERGE_TOKENS,
            max(512, estimate_tokens(request.original) + estimate_tokens(code) + 256),
        ),
        title="ByteBuddy: applying",
    )
    merged = extract_code(answer, language=language)
    if merged is None:
        return ApplyOutcome(
            "needs_model", None, "the apply model answered without code", model.name
        )
    new_text = finish_model_apply(text, merged, plan.region)
    refusal = deletion_guard(text, new_text, code)
    if refusal:
        return ApplyOutcome("refused", None, refusal, model.name)
    if new_text == text:
        return ApplyOutcome("no_change", None, "the code is already there", model.name)
    return ApplyOutcome("merged", new_text, plan.reason, model.name)


async def run_apply(server: ByteBuddyServer, args: ApplyArgs) -> dict[str, Any]:
    document = require_document(server, args.uri)
    line_range = None
    if args.range is not None:
        line_range = range_to_lines(
            args.range.start.line, args.range.end.line, args.range.end.character
        )
    snapshot = Snapshot.of(document)
    outcome = await plan_outcome(server, document, args.code, line_range)
    result: dict[str, Any] = {"applied": False, "kind": outcome.kind}
    if outcome.model:
        result["model"] = outcome.model
    if outcome.new_text is None:
        kind = types.MessageType.Info if outcome.kind == "no_change" else types.MessageType.Warning
        show_message(server, f"ByteBuddy: {outcome.reason}.", kind)
        result["reason"] = outcome.reason
        return result
    edits = text_edits(document, snapshot.text, outcome.new_text)
    result["edits"] = len(edits)
    result["applied"] = await send_workspace_edit(
        server, snapshot.workspace_edit(server, edits), "ByteBuddy apply"
    )
    return result


def register(server: ByteBuddyServer) -> None:
    @server.command(APPLY_COMMAND)
    async def apply(args: ApplyArgs) -> dict[str, Any]:
        server.protocol.cancel_task_with_request()
        return await run_apply(server, args)
