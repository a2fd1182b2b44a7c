from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SECRET = "hf_clisecretclisecretclisecret"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf")}
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG"):
        full_env.pop(name, None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bytebuddy_ls", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_valid_prints_role_table(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n"
        "  - {name: fim, provider: huggingface-tgi, model: bigcode/starcoder2-3b,"
        " apiBase: 'http://127.0.0.1:9', roles: [autocomplete]}\n"
        "  - {name: talk, provider: huggingfaceinferenceapi,"
        f" model: meta-llama/Llama-3.1-8B-Instruct, apiKey: {SECRET}}}\n"
    )
    result = run("check-config", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["autocomplete", "fim"] for line in lines)
    assert any(line.split()[:2] == ["edit", "talk"] for line in lines)
    assert SECRET not in result.stdout + result.stderr


def test_check_config_invalid_points_at_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - name: a\n    provider: openai\n    model: m\n    roles: [chat\n")
    result = run("check-config", str(path), cwd=tmp_path)
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:") and "YAML syntax error" in first
    line, col = first[len(str(path)) + 1 :].split(":")[:2]
    assert int(line) >= 5 and int(col) >= 1


def test_check_config_searches_workspace_then_home(tmp_path: Path) -> None:
    result = run("check-config", cwd=tmp_path)
    assert result.returncode == 1 and "no config found" in result.stderr
    (tmp_path / ".bytebuddy").mkdir()
    (tmp_path / ".bytebuddy" / "config.yaml").write_text(
        "models:\n  - {name: a, provider: openai, model: m}\n"
    )
    result = run("check-config", cwd=tmp_path)
    assert result.returncode == 0
    assert ".bytebuddy/config.yaml" in result.stdout


def test_doctor_reports_unreachable_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n"
        "  - {name: tgi, provider: huggingface-tgi, model: x/y, apiBase: 'http://127.0.0.1:9',"
        f" apiKey: {SECRET}}}\n"
    )
    result = run("doctor", "--config", str(path), "--timeout", "2", cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "apiKey in config" in result.stdout
    assert "unreachable" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_doctor_without_config_explains(tmp_path: Path) -> None:
    # Without the opt-out, the bundled local model (extra `local`) would be the default.
    result = run("doctor", cwd=tmp_path, env={"BYTEBUDDY_EMBEDDED_MODEL": "off"})
    assert result.returncode == 1
    assert "~/.bytebuddy/config.yaml" in result.stdout


def test_version_and_module_entry(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("bytebuddy-ls ")


def test_point_in_a_symlinked_file_takes_the_language_its_name_gives(tmp_path: Path) -> None:
    """``complete`` and ``context`` read FILE:LINE:COL alike: the language from the name
    as given (as an editor opening it would), else from the file it resolves to."""
    from bytebuddy_ls.cli.common import read_point

    target = tmp_path / "tool.py"
    target.write_text("def f():\n    return 1\n", encoding="utf-8")
    script = tmp_path / "tool"
    script.symlink_to(target)
    as_text = tmp_path / "notes.ts"
    as_text.symlink_to(target)

    point = read_point(f"{script}:2:5")
    assert point is not None
    assert point.document.language_id == "python"
    assert point.document.uri == target.as_uri()
    assert point.path == target
    assert point.offset == len("def f():\n    ")

    renamed = read_point(f"{as_text}:1:99")
    assert renamed is not None
    assert renamed.document.language_id == "typescript"
    assert renamed.offset == len("def f():")
