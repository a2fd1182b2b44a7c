"""End to end: real Neovim 0.11.4 + real bytebuddy-ls + the loopback HF test server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import Editor, HFServer

Connect = Callable[..., Editor]

EXTMARKS = """
local ns = require('bytebuddy.inline').ns
local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {details = true})
local out = {}
for _, m in ipairs(marks) do
  local d = m[4]
  table.insert(out, {
    row = m[2], col = m[3],
    virt_text = d.virt_text, virt_text_pos = d.virt_text_pos,
    virt_lines = d.virt_lines, hl_mode = d.hl_mode,
  })
end
return out
"""


def cursor(editor: Editor) -> tuple[int, int]:
    row, col = editor.lua("return vim.api.nvim_win_get_cursor(0)")
    return int(row), int(col)


def type_after(editor: Editor, line: int, text: str) -> None:
    """Puts the cursor at the end of `line` (1-based), enters Insert mode and types."""
    editor.nvim.command(f"call cursor({line}, 1)")
    editor.input("A" + text)


def wait_suggestion(editor: Editor, expected: str, timeout: float = 15.0) -> None:
    editor.wait_for(
        f"require('bytebuddy').current_suggestion() == {lua_string(expected)}",
        timeout=timeout,
        what=f"suggestion {expected!r}",
    )


def lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


# ----- ghost text ---------------------------------------------------------------------


def test_ghost_text_extmark_appears_after_typing(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("urn a + b")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "ret")
    wait_suggestion(editor, "urn a + b")

    assert editor.lua("return vim.api.nvim_get_mode().mode") == "i"
    marks = editor.lua(EXTMARKS)
    assert len(marks) == 1, marks
    mark = marks[0]
    assert (mark["row"], mark["col"]) == (1, len("    ret"))  # at the cursor
    assert mark["virt_text"] == [["urn a + b", "ByteBuddySuggestion"]]
    assert mark["virt_text_pos"] == "inline"
    assert not mark.get("virt_lines")
    assert editor.lua("return vim.api.nvim_get_hl(0, {name = 'ByteBuddySuggestion'}).link") == (
        "Comment"
    )
    # Ghost text is not buffer text.
    assert editor.buffer_lines() == ["def add(a, b):", "    ret"]
    # The model really saw what was typed.
    prompts = [str(r["json"]) for r in hf_server.generation_requests()]
    assert any("def add(a, b):\\n    ret" in p for p in prompts), prompts


def test_multiline_ghost_text_uses_virt_lines(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("total = a + b\n    return total")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "")
    editor.lua("require('bytebuddy').suggest()")
    wait_suggestion(editor, "total = a + b\n    return total")
    marks = editor.lua(EXTMARKS)
    assert len(marks) == 1, marks
    assert marks[0]["virt_text"] == [["total = a + b", "ByteBuddySuggestion"]]
    assert marks[0]["virt_lines"] == [[["    return total", "ByteBuddySuggestion"]]]
    assert editor.lua("return require('bytebuddy').accept()") is True
    assert editor.buffer_lines() == ["def add(a, b):", "    total = a + b", "    return total"]
    assert cursor(editor) == (3, len("    return total"))


def test_tab_accepts_exactly_the_suggestion(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("urn a + b")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "ret")
    wait_suggestion(editor, "urn a + b")
    editor.input("<Tab>")
    editor.wait_for("vim.api.nvim_get_current_line() ~= '    ret'", what="the accept")
    assert editor.buffer_lines() == ["def add(a, b):", "    return a + b"]
    assert cursor(editor) == (2, len("    return a + b"))
    assert editor.lua("return vim.api.nvim_get_mode().mode") == "i"
    # The item's command told the server which suggestion was taken, and it knew it.
    ack = editor.wait_for(
        "require('bytebuddy.inline').stats.last_accept", what="the accept command's answer"
    )
    assert ack == {"command": "bytebuddy.acceptCompletion", "ok": True, "result": True}


def test_accept_word_then_rest(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("urn a + b")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "ret")
    wait_suggestion(editor, "urn a + b")
    editor.input("<M-Right>")
    editor.wait_for("vim.api.nvim_get_current_line() == '    return'", what="one word")
    assert editor.lua("return require('bytebuddy').current_suggestion()") == " a + b"
    editor.input("<Tab>")
    editor.wait_for("vim.api.nvim_get_current_line() == '    return a + b'", what="the rest")


def test_typing_the_suggestion_keeps_it_without_new_requests(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("urn a + b")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "ret")
    wait_suggestion(editor, "urn a + b")
    sent = editor.lua("return require('bytebuddy.inline').stats.requests")
    editor.input("ur")
    wait_suggestion(editor, "n a + b")
    assert editor.lua("return require('bytebuddy.inline').stats.requests") == sent


def test_fast_typing_sends_one_request(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("(a, b)")
    editor = connected("add.py", "def add(a, b):\n    \n", debounce_ms=200)
    type_after(editor, 2, "return add")
    wait_suggestion(editor, "(a, b)")
    assert editor.lua("return require('bytebuddy.inline').stats.requests") == 1
    completions = [r for r in hf_server.generation_requests() if "add(a, b)" in str(r["json"])]
    assert len(completions) == 1, completions


def test_tab_inserts_a_tab_when_the_model_has_nothing(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("")
    editor = connected("notes.txt", "x\n")
    editor.nvim.command("setlocal noexpandtab")
    type_after(editor, 1, "y")
    # Wait until the plugin asked and got its (empty) answer: nothing is shown.
    editor.wait_for(
        "require('bytebuddy.inline').stats.requests >= 1 "
        "and not require('bytebuddy.inline').debug_state().pending",
        what="the empty answer",
    )
    assert editor.lua("return require('bytebuddy').current_suggestion()") is None
    editor.input("<Tab>z")
    editor.wait_for("vim.api.nvim_get_current_line() == 'xy\\tz'", what="a real tab")


# ----- commands -----------------------------------------------------------------------


def test_status_notifications_feed_the_statusline(connected: Connect, hf_server: HFServer) -> None:
    editor = connected("add.py", "x = 1\n")
    editor.nvim.command("ByteBuddyToggle")
    editor.wait_for(
        "require('bytebuddy').status().state == 'disabled'", what="the server's disabled status"
    )
    assert "disabled" in editor.lua("return require('bytebuddy').statusline()")
    assert editor.lua("return require('bytebuddy.inline').is_enabled()") is False
    editor.nvim.command("ByteBuddyToggle")
    editor.wait_for("require('bytebuddy').status().state ~= 'disabled'", what="enabled again")
    assert editor.lua("return require('bytebuddy.inline').is_enabled()") is True


def test_models_command_selects_a_model_per_role(connected: Connect, hf_server: HFServer) -> None:
    editor = connected("add.py", "x = 1\n")
    # Stand-in for the user's picks in vim.ui.select: role "chat", then the first model.
    editor.lua(
        """
        _G.offered = {}
        vim.ui.select = function(items, opts, on_choice)
          local labels = {}
          for _, item in ipairs(items) do
            table.insert(labels, opts.format_item and opts.format_item(item) or item)
          end
          table.insert(_G.offered, {prompt = opts.prompt, labels = labels})
          on_choice(#_G.offered == 1 and 'chat' or items[1], 1)
        end
        """
    )
    editor.nvim.command("ByteBuddyModels")
    editor.wait_for("#_G.offered == 2", what="the model list")
    offered = editor.lua("return _G.offered")
    assert offered[0]["prompt"] == "ByteBuddy role:"
    assert offered[1]["prompt"] == "ByteBuddy model for chat:"
    assert len(offered[1]["labels"]) == 1 and "chat" in offered[1]["labels"][0]
    editor.wait_for(
        "vim.iter(_G.bytebuddy_test_notifications):any(function(n) "
        "return n.msg:find('chat now uses chat', 1, true) ~= nil end)",
        what="the selection confirmed",
    )


def test_checkhealth_and_status_with_a_running_server(
    connected: Connect, hf_server: HFServer
) -> None:
    editor = connected("add.py", "x = 1\n")
    status = "\n".join(editor.lua("return require('bytebuddy.commands').status_lines()"))
    assert "ByteBuddy: ready" in status
    assert "this buffer: attached" in status
    editor.nvim.command("checkhealth bytebuddy")
    report = "\n".join(editor.buffer_lines())
    assert "config is valid" in report, report
    assert "client running" in report
    assert "ERROR" not in report, report


def test_accept_line_by_line(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("total = a + b\n    return total")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "")
    editor.lua("require('bytebuddy').suggest()")
    wait_suggestion(editor, "total = a + b\n    return total")
    editor.input("<M-Down>")
    editor.wait_for("vim.api.nvim_get_current_line() == '    total = a + b'", what="line one")
    assert editor.lua("return require('bytebuddy').current_suggestion()") == "\n    return total"
    editor.input("<M-Down>")
    editor.wait_for("vim.api.nvim_get_current_line() == '    return total'", what="line two")
    assert editor.buffer_lines() == ["def add(a, b):", "    total = a + b", "    return total"]


def test_dismiss_and_leaving_insert_mode_remove_the_ghost_text(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("urn a + b")
    editor = connected("add.py", "def add(a, b):\n    \n")
    type_after(editor, 2, "ret")
    wait_suggestion(editor, "urn a + b")
    editor.input("<C-]>")
    editor.wait_for("require('bytebuddy').current_suggestion() == nil", what="the dismiss")
    assert editor.lua(EXTMARKS) == []
    assert editor.buffer_lines() == ["def add(a, b):", "    ret"]

    editor.lua("require('bytebuddy').suggest()")
    wait_suggestion(editor, "urn a + b")
    editor.input("<Esc>")
    editor.wait_for("vim.api.nvim_get_mode().mode == 'n'", what="normal mode")
    assert editor.lua(EXTMARKS) == []
    assert editor.buffer_lines() == ["def add(a, b):", "    ret"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_non_ascii_text_before_and_in_the_suggestion(
    connected: Connect, hf_server: HFServer, encoding: str
) -> None:
    # Multi-byte text before the cursor (CJK, an emoji outside the BMP) and in the answer:
    # columns differ in bytes, UTF-16 units and characters.
    hf_server.script('"😀 你好"')
    capabilities = {"general": {"positionEncodings": [encoding]}}
    editor = connected("greet.py", "# 日本語 😀\n", lsp={"capabilities": capabilities})
    assert editor.lua("return vim.lsp.get_clients({bufnr = 0})[1].offset_encoding") == encoding
    editor.nvim.command("call cursor(1, 1)")
    editor.input("Ogreeting = 日本 + ")
    wait_suggestion(editor, '"😀 你好"')
    marks = editor.lua(EXTMARKS)
    assert marks[0]["col"] == len("greeting = 日本 + ".encode())
    editor.input("<Tab>")
    editor.wait_for("vim.api.nvim_get_current_line() ~= 'greeting = 日本 + '", what="the accept")
    assert editor.buffer_lines() == ['greeting = 日本 + "😀 你好"', "# 日本語 😀"]
