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
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            event = _take_event(buffer)
            if event is not None:
                yield event
            continue
        value = _data_value(line)
        if value is None:
            continue
        if buffer and _is_complete("\n".join(buffer)):
            # No blank line between two events: the previous one is already whole.
            event = _take_event(buffer)
            if event is not None:
                yield event
        buffer.append(value)
    event = _take_event(buffer)
    if event is not None:
        yield event


def _take_event(buffer: list[str]) -> Any:
    """The event the buffered data lines make (None when there are none), emptying the
    buffer."""
    payload = "\n".join(buffer).strip()
    buffer.clear()
    if not payload:
        return None
    if payload == "[DONE]":
        return DONE
    return json.loads(payload)


def _data_value(line: str) -> str | None:
    """The value of a ``data:`` line; None for a comment or any other field."""
    if line.startswith(":"):
        return None
    field, _, value = line.partition(":")
    if field != "data":
        return None
    return value[1:] if value.startswith(" ") else value


def _is_complete(payload: str) -> bool:
    payload = payload.strip()
    if payload == "[DONE]":
        return True
    try:
        json.loads(payload)
    except ValueError:
        return False
    return True
