""""Explain" answers go to a private folder: created by mkdtemp (0700, unpredictable
name), never the shared, guessable /tmp/bytebuddy-ls-<pid>/ another user could plant."""

from __future__ import annotations

import stat
from pathlib import Path

from lsprotocol import types
from pygls.uris import to_fs_path

from tests.ai_support import vscode_capabilities
from tests.hf_server import HFTestServer
from tests.lsp_harness import running_server


async def test_explanations_are_written_to_a_private_folder(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "models:\n  - name: chat\n    provider: openai\n    model: m\n"
        f"    apiBase: {hf_server.url}/v1\n    apiKey: k-123456\n    roles: [chat, edit]\n"
    )
    source = tmp_path / "area.py"
    source.write_text("def area(r):\n    return 3 * r * r\n")
    hf_server.script("`area` computes the area of a circle.")
    async with running_server(
        cwd=tmp_path, args=["--config", str(config)], capabilities=vscode_capabilities()
    ) as session:
        session.open(source.as_uri(), source.read_text())
        whole = {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}
        shown = []
        for _ in range(2):
            result = await session.client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    "bytebuddy.runAction", [{"id": "explain", "uri": source.as_uri(),
                                             "range": whole}]
                )
            )
            shown.append(Path(to_fs_path(result["uri"]) or ""))
    first, second = shown
    folder = first.parent
    assert folder == second.parent and first != second
    assert "area of a circle" in first.read_text()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.name.startswith("bytebuddy-ls-explain-") and not folder.name[21:].isdigit()
