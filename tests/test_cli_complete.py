from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from .hf_server import HFTestServer


async def run_cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf")}
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bytebuddy_ls",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, hf: HFTestServer) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n"
        "  - name: fim\n"
        "    provider: huggingface-tgi\n"
        "    model: bigcode/starcoder2-3b\n"
        f"    apiBase: {hf.url}\n"
        "    roles: [autocomplete]\n"
    )
    return path


async def test_complete_prints_the_suggestion(hf_server: HFTestServer, tmp_path: Path) -> None:
    hf_server.script(reply="return a + b")
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n")
    config = write_config(tmp_path, hf_server)
    code, out, err = await run_cli(
        "complete", f"{source}:2:5", "--config", str(config), cwd=tmp_path
    )
    assert code == 0, err
    assert out == "return a + b\n"
    (request,) = [r for r in hf_server.requests if r.path == "/generate"]
    assert request.json["inputs"] == "<fim_prefix>def add(a, b):\n    <fim_suffix>\n<fim_middle>"


async def test_complete_reports_upstream_errors(hf_server: HFTestServer, tmp_path: Path) -> None:
    hf_server.script(status=401, body={"error": "Invalid username or password."})
    source = tmp_path / "calc.py"
    source.write_text("x = \n")
    config = write_config(tmp_path, hf_server)
    code, out, err = await run_cli(
        "complete", f"{source}:1:5", "--config", str(config), cwd=tmp_path
    )
    assert code == 1 and out == ""
    assert "fim" in err and "token" in err.lower()


async def test_complete_rejects_a_bad_point(tmp_path: Path) -> None:
    code, _, err = await run_cli("complete", "nowhere", cwd=tmp_path)
    assert code == 1 and "FILE:LINE:COL" in err
