""":ByteBuddyUsage and the budget in :ByteBuddyStatus, in a real Neovim."""

from __future__ import annotations

from collections.abc import Callable

import pynvim
import pytest
from test_e2e import type_after, wait_suggestion

from conftest import Editor, HFServer

Connect = Callable[..., Editor]

REPORT = {
    "rows": [
        {"model": "qwen", "provider": "together", "role": "chat", "operation": "chat",
         "requests": 12, "prompt_tokens": 12000, "completion_tokens": 345, "cost_usd": 1.5,
         "estimated": False, "errors": 1, "cache_hits": 0},
        {"model": "fim", "provider": "tgi", "role": "autocomplete", "operation": "autocomplete",
         "requests": 3, "prompt_tokens": 90, "completion_tokens": 12, "cost_usd": 0,
         "estimated": True, "errors": 0, "cache_hits": 4},
    ],
    "total": {"requests": 15, "prompt_tokens": 12090, "completion_tokens": 357,
              "cost_usd": 1.5, "estimated": True, "errors": 1, "cache_hits": 4},
    "by": "model",
    "since": "2026-12-01T00:00:00+00:00",
}


def test_usage_table_format(editor: Editor) -> None:
    lines = editor.lua("return require('bytebuddy.usage').format(...)", REPORT)
    assert lines[0] == "ByteBuddy usage since 2026-12-01T00:00:00+00:00"
    assert lines[2].split() == ["model", "requests", "prompt", "tok", "completion", "tok",
                                "cost", "errors", "cached"]
    assert lines[4].split() == ["qwen", "12", "12,000", "345", "$1.50", "1", "0"]
    assert lines[5].split() == ["fim", "3", "90~", "12~", "$0", "0", "4"]
    assert lines[7].split() == ["total", "15", "12,090~", "357~", "$1.50", "1", "4"]
    # Columns line up: every number column ends at the same place.
    assert len({len(lines[i]) for i in (2, 4, 5, 7)}) == 1
    summary = editor.lua("return require('bytebuddy.usage').summary(...)", REPORT["total"])
    assert summary == "$1.50 · ~12,447 tokens · 15 requests"


def test_usage_command_shows_what_the_server_recorded(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("eturn a + b")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "r")
    wait_suggestion(editor, "eturn a + b")
    editor.input("<Esc>")
    editor.nvim.command("ByteBuddyUsage today model")
    editor.wait_for(
        "vim.api.nvim_buf_get_name(0):match('bytebuddy://usage') ~= nil", what="the usage split"
    )
    lines = editor.buffer_lines()
    assert lines[0].startswith("ByteBuddy usage since ")
    row = next(line.split() for line in lines if line.startswith("fim "))
    assert int(row[1]) >= 1, lines  # the completion above reached the model
    total = next(line.split() for line in lines if line.startswith("total "))
    assert int(total[1]) >= 1
    # A bad grouping is explained, not sent.
    with pytest.raises(pynvim.NvimError, match="group usage by one of model, provider"):
        editor.nvim.command("ByteBuddyUsage today colour")
