"""Inference Endpoints end to end: real Neovim, real bytebuddy-ls, the loopback HF server's
Endpoints emulation. A paused endpoint shows in the statusline and :checkhealth; the
resume question comes through vim.ui.select, and picking Resume resumes it."""

from __future__ import annotations

from pathlib import Path

from conftest import Editor, HFServer

QUESTION = "Endpoint nvim-coder is paused. Resume? (it bills while running): "

# vim.ui.select as a user answering: records the question, picks an answer after a moment.
ANSWER_WITH = """
local answer = ...
_G.bytebuddy_test_prompts = {}
vim.ui.select = function(items, opts, on_choice)
  local titles = vim.tbl_map(function(item) return opts.format_item(item) end, items)
  table.insert(_G.bytebuddy_test_prompts, { prompt = opts.prompt, items = titles })
  vim.defer_fn(function()
    for i, item in ipairs(items) do
      if item.title == answer then return on_choice(item, i) end
    end
    on_choice(nil, nil)
  end, 150)
end
"""


def endpoint_config() -> dict[str, object]:
    return {"models": [{
        "name": "fim", "provider": "huggingfaceinferenceapi", "model": "bigcode/starcoder2-3b",
        "apiKey": "test-key", "roles": ["autocomplete"],
        "endpoint": {"name": "nvim-coder", "namespace": "bytebuddy-test"},
    }]}


def start(editor: Editor, hf_server: HFServer, server_cmd: list[str], tmp_path: Path,
          answer: str) -> Editor:
    editor.lua(ANSWER_WITH, answer)
    path = tmp_path / "add.py"
    path.write_text("def add(a, b):\n    \n")
    editor.lua("require('bytebuddy').setup(...)", {
        "cmd": server_cmd, "init_options": {"config": endpoint_config()}, "debounce_ms": 50,
        "lsp": {"cmd_env": hf_server.endpoints_env},
    })
    editor.nvim.command(f"edit {path}")
    editor.wait_for("#vim.lsp.get_clients({bufnr = 0, name = 'bytebuddy'}) > 0", timeout=20,
                    what="bytebuddy-ls to attach")
    editor.remember_children()
    return editor


def resumes(hf_server: HFServer) -> list[dict[str, object]]:
    return [r for r in hf_server.requests() if str(r["path"]).endswith("/nvim-coder/resume")]


def test_paused_endpoint_is_shown_and_resumed_with_one_pick(
    editor: Editor, hf_server: HFServer, server_cmd: list[str], tmp_path: Path
) -> None:
    hf_server.endpoint("nvim-coder", state="paused", init_s=1.0)
    hf_server.script("return a + b")
    start(editor, hf_server, server_cmd, tmp_path, "Resume")
    editor.wait_for("require('bytebuddy').statusline() == 'BB ⏸ nvim-coder paused'",
                    what="the paused endpoint in the statusline")
    editor.nvim.command("checkhealth bytebuddy")
    text = "\n".join(editor.buffer_lines())
    assert "fim: endpoint bytebuddy-test/nvim-coder is paused" in text, text
    assert ":ByteBuddyEndpoint resume fim" in text
    editor.nvim.command("bwipeout")  # the health buffer
    assert resumes(hf_server) == []  # nothing resumes it before the user says so

    editor.nvim.command("call cursor(2, 1)")
    editor.input("A")
    editor.lua("require('bytebuddy').suggest()")
    editor.wait_for("#_G.bytebuddy_test_prompts == 1", timeout=15, what="the resume question")
    prompt = editor.lua("return _G.bytebuddy_test_prompts[1]")
    assert prompt == {"prompt": QUESTION, "items": ["Resume", "Not now"]}
    editor.wait_for("require('bytebuddy').current_suggestion() == 'return a + b'", timeout=20,
                    what="the suggestion after the resume")
    assert len(resumes(hf_server)) == 1
    assert hf_server.endpoint_states()["nvim-coder"] == "running"
    editor.wait_for("require('bytebuddy').statusline():find('^BB ● ready') ~= nil", timeout=10,
                    what="the statusline back to ready")
    assert editor.lua("return require('bytebuddy').status().endpoint.state") == "running"


def test_not_now_leaves_the_endpoint_paused(
    editor: Editor, hf_server: HFServer, server_cmd: list[str], tmp_path: Path
) -> None:
    hf_server.endpoint("nvim-coder", state="paused")
    start(editor, hf_server, server_cmd, tmp_path, "Not now")
    editor.wait_for("require('bytebuddy').statusline() == 'BB ⏸ nvim-coder paused'",
                    what="the paused endpoint in the statusline")
    editor.nvim.command("call cursor(2, 1)")
    editor.input("A")
    editor.lua("require('bytebuddy').suggest()")
    editor.wait_for("#_G.bytebuddy_test_prompts == 1", timeout=15, what="the resume question")
    editor.wait_for("require('bytebuddy').status().state == 'error'", timeout=10,
                    what="the request answered")
    assert editor.lua("return require('bytebuddy').current_suggestion()") is None
    assert resumes(hf_server) == []
    assert hf_server.endpoint_states()["nvim-coder"] == "paused"
    assert editor.lua("return require('bytebuddy').statusline()") == "BB ⏸ nvim-coder paused"

    # The command resumes it without asking.
    editor.input("<Esc>")
    editor.nvim.command("ByteBuddyEndpoint resume fim")
    editor.wait_for(
        "(function() for _, n in ipairs(_G.bytebuddy_test_notifications) do "
        "if n.msg == 'ByteBuddy: endpoint nvim-coder is running' then return true end end end)()",
        timeout=20, what="the resume command to finish",
    )
    assert len(resumes(hf_server)) == 1
    assert editor.lua("return #_G.bytebuddy_test_prompts") == 1
