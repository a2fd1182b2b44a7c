"""End to end for the chat and edit commands (real Neovim, bytebuddy-ls, HF test server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Editor, HFServer

Connect = Callable[..., Editor]


def test_edit_command_applies_the_edit(connected: Connect, hf_server: HFServer) -> None:
    hf_server.script("```python\ndef add(a, b):\n    return a + b\n```")
    editor = connected("add.py", "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n")
    editor.nvim.command("1,2ByteBuddyEdit fix the operator")
    editor.wait_for(
        "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    return a + b'",
        timeout=20,
        what="the edit",
    )
    assert editor.buffer_lines() == [
        "def add(a, b):",
        "    return a + b",
        "",
        "print(add(1, 2))",
    ]
    chats = [r for r in hf_server.generation_requests() if "fix the operator" in str(r["json"])]
    assert chats, hf_server.generation_requests()


def test_chat_streams_into_its_buffer(connected: Connect, hf_server: HFServer) -> None:
    answer = "Hello from the test model. This answer arrives in several chunks."
    hf_server.script(answer, token_delay_s=0.15)
    editor = connected("add.py", "def add(a, b):\n    return a + b\n")
    editor.nvim.command("ByteBuddyChat say hello")
    chat_buffer = "vim.fn.bufnr('bytebuddy://chat')"
    # Part of the answer is in the buffer while the model is still writing.
    partial = editor.wait_for(
        "(function() local c = require('bytebuddy.chat').last "
        "if c.deltas >= 1 and not c.done then "
        f"return table.concat(vim.api.nvim_buf_get_lines({chat_buffer}, 0, -1, false), '\\n') "
        "end end)()",
        timeout=20,
        what="a partial answer",
    )
    assert "Hello" in partial
    assert answer not in partial
    editor.wait_for("require('bytebuddy.chat').last.done", timeout=20, what="the whole answer")
    last = editor.lua("return require('bytebuddy.chat').last")
    assert last["error"] is None if "error" in last else True
    assert last["deltas"] >= 3
    assert last["content"] == answer
    assert last["streamed"] == answer
    text = "\n".join(editor.buffer_lines(editor.lua(f"return {chat_buffer}")))
    assert text.endswith(answer)
    assert "say hello" in text
    # The chat window opened beside the code, and the cursor stayed in the code.
    assert editor.lua("return vim.api.nvim_buf_get_name(0)").endswith("add.py")
    assert editor.lua(f"return #vim.fn.win_findbuf({chat_buffer})") == 1


def test_chat_says_when_the_answer_was_cut_at_the_token_limit(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("It adds a and b", finish_reason="length")
    editor = connected("add.py", "def add(a, b):\n    return a + b\n")
    editor.nvim.command("ByteBuddyChat what does add do")
    editor.wait_for("require('bytebuddy.chat').last.done", timeout=20, what="the answer")
    assert editor.lua("return require('bytebuddy.chat').last.truncated") is True
    chat_buffer = editor.lua("return vim.fn.bufnr('bytebuddy://chat')")
    text = "\n".join(editor.buffer_lines(chat_buffer))
    assert "It adds a and b" in text and "cut at the model's token limit" in text


def test_apply_command_applies_a_register_to_the_range(
    connected: Connect, hf_server: HFServer
) -> None:
    editor = connected("add.py", "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n")
    editor.lua("vim.fn.setreg('a', 'def add(a, b):\\n    return a + b\\n')")
    editor.nvim.command("1,2ByteBuddyApply a")
    editor.wait_for(
        "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    return a + b'",
        timeout=20,
        what="the applied code",
    )
    assert editor.buffer_lines() == ["def add(a, b):", "    return a + b", "", "print(add(1, 2))"]


def test_apply_command_uses_the_last_chat_code_block(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("Use plus:\n\n```python\ndef add(a, b):\n    return a + b\n```\n")
    editor = connected("add.py", "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n")
    editor.nvim.command("ByteBuddyChat fix add")
    editor.wait_for("require('bytebuddy.chat').last.done", timeout=20, what="the chat answer")
    editor.nvim.command("1,2ByteBuddyApply")
    editor.wait_for(
        "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    return a + b'",
        timeout=20,
        what="the applied code",
    )
    assert editor.buffer_lines() == ["def add(a, b):", "    return a + b", "", "print(add(1, 2))"]


def test_edit_of_a_characterwise_selection_changes_only_the_selection(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("a + b")
    editor = connected("add.py", "def add(a, b):\n    return a - b  # keep me\n")
    editor.nvim.command("call cursor(2, 12)")  # on the "a" of "a - b"
    editor.input("v4l:ByteBuddyEdit use plus<CR>")
    editor.wait_for(
        "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] ~= '    return a - b  # keep me'",
        timeout=20,
        what="the edit",
    )
    assert editor.buffer_lines() == ["def add(a, b):", "    return a + b  # keep me"]


def test_edit_with_instruction_code_action_asks_for_the_instruction(
    connected: Connect, hf_server: HFServer
) -> None:
    hf_server.script("```python\ndef add(a, b):\n    return a + b\n```")
    editor = connected("add.py", "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n")
    # Answer the instruction prompt the way a user would.
    editor.lua("vim.ui.input = function(_, on_confirm) on_confirm('fix the operator') end")
    editor.lua(
        """
        local client = require('bytebuddy.lsp').get_client(0)
        local params = {
          textDocument = { uri = vim.uri_from_bufnr(0) },
          range = { start = { line = 0, character = 0 }, ['end'] = { line = 2, character = 0 } },
          context = { diagnostics = {}, triggerKind = 1 },
        }
        client:request('textDocument/codeAction', params, function(_, actions)
          for _, action in ipairs(actions or {}) do
            local command = action.command
            if type(command) == 'table' and command.command == 'bytebuddy.edit' then
              client:exec_cmd(command, { bufnr = 0 })
            end
          end
        end, 0)
        """
    )
    editor.wait_for(
        "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    return a + b'",
        timeout=20,
        what="the edit",
    )
    chats = [r for r in hf_server.generation_requests() if "fix the operator" in str(r["json"])]
    assert chats


def test_context_command_shows_the_imported_definition(
    connected: Connect, hf_server: HFServer, tmp_path: Path
) -> None:
    (tmp_path / "geometry.py").write_text(
        'def distance(a, b):\n    """Euclidean distance between two points."""\n    return 0.0\n'
    )
    editor = connected("uses.py", "from geometry import distance\n\nd = distance(")
    editor.nvim.command("normal! G$")
    editor.nvim.command("ByteBuddyContext")
    answer = editor.wait_for(
        "require('bytebuddy.context').last", timeout=20, what="the context answer"
    )
    assert answer["snippets"][0]["symbol"] == "distance"
    assert answer["snippets"][0]["path"].endswith("geometry.py")
    shown = "\n".join(editor.buffer_lines(editor.lua("return vim.fn.bufnr('bytebuddy://context')")))
    assert "definition distance" in shown
    assert "Euclidean distance between two points." in shown
    assert "## The prompt sent" in shown and "<file_sep>" in shown
    # The report opened beside the code; the cursor stayed in the code.
    assert editor.lua("return vim.api.nvim_buf_get_name(0)").endswith("uses.py")
    assert editor.lua("return #vim.fn.win_findbuf(vim.fn.bufnr('bytebuddy://context'))") == 1


def test_context_command_says_why_nothing_was_found(connected: Connect) -> None:
    editor = connected("alone.py", "x = 1\ny = x + ")
    editor.nvim.command("normal! G$")
    editor.nvim.command("ByteBuddyContext")
    answer = editor.wait_for(
        "require('bytebuddy.context').last", timeout=20, what="the context answer"
    )
    assert answer["snippets"] == []
    shown = "\n".join(editor.buffer_lines(editor.lua("return vim.fn.bufnr('bytebuddy://context')")))
    assert "No context from other files: nothing relevant" in shown
