"""Plugin behaviour that needs no running language server."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from conftest import PLUGIN_DIR, Editor

ERROR = 4  # vim.log.levels.ERROR


def test_missing_server_binary_gives_one_clear_message(
    editor_factory: Callable[..., Editor], tmp_path: Path
) -> None:
    # PATH without bytebuddy-ls: the default cmd cannot be found.
    editor = editor_factory(path_env="/usr/bin:/bin")
    assert editor.lua("return vim.fn.executable('bytebuddy-ls')") == 0
    editor.lua("require('bytebuddy').setup()")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    editor.nvim.command(f"edit {tmp_path / 'a.py'}")
    editor.nvim.command(f"edit {tmp_path / 'b.py'}")

    errors = [n for n in editor.notifications() if n["level"] == ERROR]
    assert len(errors) == 1, errors  # one message, not one per buffer
    message = errors[0]["msg"]
    assert "bytebuddy-ls" in message
    assert "not found" in message
    assert "pip" in message  # what to install
    assert "cmd = " in message  # what to set instead
    assert message in editor.messages()  # the user actually sees it
    # Neovim's own spawn error would mean the plugin enabled a config it knew was broken.
    assert "Spawning language server" not in editor.messages()
    assert editor.lua("return #vim.lsp.get_clients({name = 'bytebuddy'})") == 0
    assert editor.lua("return require('bytebuddy').status().state") == "missing"
    status = "\n".join(editor.lua("return require('bytebuddy.commands').status_lines()"))
    assert "not found" in status


def test_explicit_missing_cmd_is_named_in_the_message(editor: Editor) -> None:
    editor.lua("require('bytebuddy').setup({cmd = {'/opt/nowhere/bytebuddy-ls', 'serve'}})")
    errors = [n["msg"] for n in editor.notifications() if n["level"] == ERROR]
    assert len(errors) == 1
    assert "/opt/nowhere/bytebuddy-ls" in errors[0]


def _setup_without_server(editor: Editor, tmp_path: Path) -> None:
    # A command that does not exist: the keys must still fall back to their normal action.
    editor.lua("require('bytebuddy').setup({cmd = {'/opt/nowhere/bytebuddy-ls'}})")
    path = tmp_path / "t.txt"
    path.write_text("")
    editor.nvim.command(f"edit {path}")
    editor.nvim.command("setlocal noexpandtab")


def test_tab_without_suggestion_inserts_a_tab(editor: Editor, tmp_path: Path) -> None:
    _setup_without_server(editor, tmp_path)
    assert editor.lua("return vim.fn.maparg('<Tab>', 'i', false, true).desc") == (
        "ByteBuddy: accept suggestion"
    )
    editor.input("i<Tab>x<Tab>y")
    editor.wait_for("vim.api.nvim_get_current_line() == '\\tx\\ty'", what="two tabs typed")
    assert editor.lua("return require('bytebuddy').current_suggestion()") is None


def test_tab_without_suggestion_keeps_an_earlier_tab_mapping(
    editor: Editor, tmp_path: Path
) -> None:
    # Another plugin (e.g. a snippet engine) mapped <Tab> before ByteBuddy's setup.
    editor.nvim.command("inoremap <Tab> <lt>TAB>")
    _setup_without_server(editor, tmp_path)
    editor.input("i<Tab>z")
    editor.wait_for("vim.api.nvim_get_current_line() == '<TAB>z'", what="the earlier mapping")


def test_tab_respects_expandtab(editor: Editor, tmp_path: Path) -> None:
    _setup_without_server(editor, tmp_path)
    editor.nvim.command("setlocal expandtab shiftwidth=4 softtabstop=4")
    editor.input("i<Tab>w")
    editor.wait_for("vim.api.nvim_get_current_line() == '    w'", what="spaces for a tab")


def test_commands_exist_and_explain_when_not_running(editor: Editor, tmp_path: Path) -> None:
    _setup_without_server(editor, tmp_path)
    for name in (
        "ByteBuddyChat",
        "ByteBuddyEdit",
        "ByteBuddyApply",
        "ByteBuddyToggle",
        "ByteBuddyModels",
        "ByteBuddyStatus",
        "ByteBuddyUsage",
    ):
        assert editor.lua(f"return vim.fn.exists(':{name}')") == 2, name
    editor.nvim.command("ByteBuddyEdit make it better")
    warnings = [n["msg"] for n in editor.notifications() if n["level"] >= 3]
    assert any("not found" in w for w in warnings[1:]), warnings


def test_checkhealth_reports_the_missing_binary(editor: Editor, tmp_path: Path) -> None:
    _setup_without_server(editor, tmp_path)
    editor.nvim.command("checkhealth bytebuddy")
    report = "\n".join(editor.buffer_lines())
    assert "ERROR" in report
    assert "/opt/nowhere/bytebuddy-ls" in report
    assert "Neovim 0.11" in report


def test_checkhealth_validates_the_inline_config(
    editor: Editor, tmp_path: Path, server_bin: Path
) -> None:
    bad = {"models": [{"name": "x", "model": "m", "roles": ["autocomplete"]}]}  # no provider
    editor.lua(
        "require('bytebuddy').setup(...)",
        {
            "cmd": [str(server_bin)],
            "init_options": {"config": bad},
        },
    )
    editor.nvim.command("checkhealth bytebuddy")
    report = "\n".join(editor.buffer_lines())
    assert f"server binary: {server_bin}" in report
    assert "check-config` failed" in report, report
    assert "provider" in report
    assert os.path.exists(server_bin)


def test_a_server_that_dies_at_start_is_reported(editor: Editor, tmp_path: Path) -> None:
    # The binary exists but exits at once (a broken install): say so, do not go quiet.
    editor.lua("require('bytebuddy').setup({cmd = {'sh', '-c', 'exit 3'}})")
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    editor.nvim.command(f"edit {path}")
    editor.wait_for(
        "require('bytebuddy').status().state == 'error'", timeout=10, what="the exit report"
    )
    errors = [n["msg"] for n in editor.notifications() if n["level"] == ERROR]
    assert any("exited (code 3" in e and "bytebuddy-ls doctor" in e for e in errors), errors


def test_every_module_loads(editor: Editor) -> None:
    modules = sorted(p.stem for p in (PLUGIN_DIR / "lua" / "bytebuddy").glob("*.lua"))
    assert "init" in modules and "health" in modules
    failures = editor.lua(
        """
        local failures = {}
        for _, name in ipairs(...) do
          local mod = name == 'init' and 'bytebuddy' or ('bytebuddy.' .. name)
          local ok, err = pcall(require, mod)
          if not ok then failures[mod] = tostring(err) end
        end
        return failures
        """,
        modules,
    )
    assert not failures, failures
