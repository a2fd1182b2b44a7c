"""Server-sent events, read tolerantly.

Accepts ``data:`` with or without a space, ``:`` keep-alive comments, ``event:``/``id:``
lines (ignored), CRLF line ends, servers that forget the blank line between events,
and streams that end without ``[DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

DONE = object()  # the OpenAI-style ``data: [DONE]`` sentinel


async def sse_events(lines: AsyncIterable[str]) -> AsyncIterator[Any]:
    """Yield each event's decoded JSON (or ``DONE``); non-JSON data raises ValueError."""
    buffer: list[str] = []

    def flush() -> Any:
        payload = "\n".join(buffer).strip()
        buffer.clear()
        if not payload:
            return None
        if payload == "[DONE]":
            return DONE
        return json.loads(payload)

    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            event = flush()
            if event is not None:
                yield event
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field != "data":
            continue
        value = value[1:] if value.startswith(" ") else value
        if buffer and _is_complete("\n".join(buffer)):
            # No blank line between two events: the previous one is already whole.
            event = flush()
            if event is not None:
                yield event
        buffer.append(value)
    event = flush()
    if event is not None:
        yield event


def _is_complete(payload: str) -> bool:
    payload = payload.strip()
    if payload == "[DONE]":
        return True
    try:
        json.loads(payload)
    except ValueError:
        return False
    return True
