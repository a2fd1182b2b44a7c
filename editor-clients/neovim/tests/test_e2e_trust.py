"""Trusting a repository's own config in real Neovim: the server's prompt through
Neovim's window/showMessageRequest handler (vim.ui.select), :ByteBuddyTrust, an edit that
asks again, and setup() from a project-local file sending its config as workspace-sourced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Editor, HFServer

KEY = "nvim-e2e-key-0123456789"
PROMPT = "This repository's ByteBuddy config"

# Neovim's handler asks through vim.ui.select; answer with _G.trust_answer and record.
ANSWERING_SELECT = """
_G.trust_prompts = {}
_G.trust_answer = ...
vim.ui.select = function(items, opts, on_choice)
  table.insert(_G.trust_prompts, opts.prompt)
  for _, item in ipairs(items) do
    if item.title == _G.trust_answer then
      return on_choice(item)
    end
  end
  on_choice(nil)
end
"""


def repo_config(path: Path, hf_server: HFServer, extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "models:\n  - name: fim\n    provider: huggingface-tgi\n    model: bigcode/starcoder2-3b\n"
        f"    apiBase: {hf_server.base_url}\n    apiKey: ${{BYTEBUDDY_E2E_KEY}}\n"
        "    roles: [autocomplete]\n" + extra
    )


def status_message(editor: Editor) -> str:
    return str(editor.lua("return require('bytebuddy.status').current.message or ''"))


@pytest.fixture
def keyed_editor(
    editor_factory: Callable[..., Editor], monkeypatch: pytest.MonkeyPatch
) -> Editor:
    monkeypatch.setenv("BYTEBUDDY_E2E_KEY", KEY)
    return editor_factory()


def test_prompt_not_now_then_trust_command_then_edit_and_trust(
    keyed_editor: Editor, hf_server: HFServer, server_cmd: list[str], tmp_path: Path
) -> None:
    editor = keyed_editor
    config = tmp_path / "repo" / ".bytebuddy" / "config.yaml"
    repo_config(config, hf_server)
    source = tmp_path / "repo" / "add.py"
    source.write_text("def add(a, b):\n    \n")
    editor.lua(ANSWERING_SELECT, "Not now")
    editor.set_up_and_open(source, {"cmd": server_cmd, "debounce_ms": 50})

    editor.wait_for("#_G.trust_prompts > 0", timeout=20, what="the trust prompt")
    prompt = editor.lua("return _G.trust_prompts[1]")
    assert PROMPT in prompt and "$BYTEBUDDY_E2E_KEY" in prompt and "127.0.0.1" in prompt
    assert KEY not in prompt
    editor.wait_for(
        "(require('bytebuddy.status').current.message or ''):find('not trusted') ~= nil",
        what="an untrusted status",
    )
    hf_server.script("urn a + b")
    editor.nvim.command("call cursor(2, 1)")
    editor.input("Aret")
    editor.lua("vim.wait(1000)")
    assert hf_server.generation_requests() == [], "nothing was sent before trust"
    editor.input("<Esc>")

    editor.nvim.command("ByteBuddyTrust")
    editor.wait_for(
        "(require('bytebuddy.status').current.message or ''):find('not trusted') == nil",
        timeout=20,
        what="the server to see the trust",
    )
    editor.wait_for(
        "vim.iter(_G.bytebuddy_test_notifications):any(function(n) "
        "return n.msg:find('trusted', 1, true) ~= nil end)",
        what="the trust command's report",
    )
    assert not any("not trusted" in n["msg"] for n in editor.notifications())
    editor.nvim.command("call cursor(2, 1)")
    editor.input("A")
    editor.lua("require('bytebuddy').suggest()")
    editor.wait_for(
        "require('bytebuddy').current_suggestion() ~= nil", timeout=20, what="a suggestion"
    )
    asked = hf_server.generation_requests()
    assert asked and all(r["headers"].get("Authorization") == "[REDACTED]" for r in asked)
    editor.input("<Esc>")

    # An edit is new content: asked again; this time the answer is Trust.
    editor.lua("_G.trust_answer = 'Trust'")
    repo_config(config, hf_server, extra="# edited\n")
    editor.wait_for("#_G.trust_prompts >= 2", timeout=20, what="a second prompt")
    store = tmp_path / "home" / "state" / "bytebuddy-ls" / "trusted-configs.json"
    editor.wait_for(
        "(require('bytebuddy.status').current.message or ''):find('not trusted') == nil",
        timeout=20,
        what="trusted again",
    )
    assert len(json.loads(store.read_text())["trusted"]) == 2


def test_setup_from_a_project_local_file_is_workspace_sourced(
    keyed_editor: Editor, hf_server: HFServer, server_cmd: list[str], tmp_path: Path
) -> None:
    """An exrc file (.nvim.lua) is the repository's: its configPath is not the user's
    choice, even when it points outside the project."""
    editor = keyed_editor
    elsewhere = tmp_path / "elsewhere" / "cfg.yaml"
    repo_config(elsewhere, hf_server)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "add.py").write_text("def add(a, b):\n    \n")
    exrc = project / ".nvim.lua"
    exrc.write_text(
        "require('bytebuddy').setup({ cmd = vim.g.bb_cmd, debounce_ms = 50, "
        f"init_options = {{ configPath = '{elsewhere}' }} }})\n"
    )
    editor.lua(ANSWERING_SELECT, "Not now")
    editor.nvim.vars["bb_cmd"] = server_cmd
    editor.nvim.command(f"luafile {exrc}")
    sources = editor.lua("return require('bytebuddy.config').options.init_options.sources")
    assert sources == {"config": "workspace", "configPath": "workspace"}
    editor.nvim.command(f"edit {project / 'add.py'}")
    editor.wait_for("#_G.trust_prompts > 0", timeout=20, what="the trust prompt")
    assert str(elsewhere) in editor.lua("return _G.trust_prompts[1]")
    # The same setup() from the user's own init is the user's: no prompt, trusted.
    assert editor.lua("return require('bytebuddy.config').source_of(nil)") == "user"
