"""``bytebuddy-ls endpoint ...``: the real command against the Endpoints emulation."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.endpoints_server import DEFAULT_NAMESPACE, EndpointsEmulator
from tests.hf_server import HFTestServer

TOKEN = "hf_clitoken0123456789abcdefghij"


@pytest.fixture
async def emulator(hf_server: HFTestServer) -> AsyncIterator[EndpointsEmulator]:
    yield EndpointsEmulator(hf_server, token=TOKEN)


async def run_cli(
    *args: str, cwd: Path, emulator: EndpointsEmulator, token: str | None = TOKEN
) -> tuple[int, str, str]:
    env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf"),
           "BYTEBUDDY_ENDPOINTS_API_URL": emulator.api_url, "HF_ENDPOINT": emulator.server.url,
           "BYTEBUDDY_RETRY_SCALE": "0.02"}
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG"):
        env.pop(name, None)
    if token is not None:
        env["HF_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bytebuddy_ls", "endpoint", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_list_shows_states_and_which_config_model_uses_each(
    emulator: EndpointsEmulator, tmp_path: Path
) -> None:
    emulator.add("my-coder", state="paused")
    emulator.add("chatter", state="running")
    config = tmp_path / "c.yaml"
    config.write_text(
        "models:\n  - name: fim\n    provider: huggingfaceinferenceapi\n"
        "    model: bigcode/starcoder2-3b\n    endpoint: {name: my-coder}\n"
        "    roles: [autocomplete]\n"
    )
    code, out, err = await run_cli("list", "--config", str(config), cwd=tmp_path,
                                   emulator=emulator)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"namespace {DEFAULT_NAMESPACE}"  # from the token's user
    assert lines[1].split() == ["NAME", "STATE", "MODEL", "INSTANCE", "CONFIG"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["my-coder"][1] == "paused" and rows["my-coder"][-1] == "fim"
    assert rows["chatter"][1] == "running" and rows["chatter"][-1] == "-"
    code, out, _ = await run_cli("list", "--json", "--namespace", DEFAULT_NAMESPACE,
                                 cwd=tmp_path, emulator=emulator)
    assert code == 0
    assert {row["name"]: row["state"] for row in json.loads(out)} == {
        "chatter": "running", "my-coder": "paused"}


async def test_status_exit_code_follows_the_state(
    emulator: EndpointsEmulator, tmp_path: Path
) -> None:
    emulator.add("my-coder", state="paused")
    code, out, err = await run_cli("status", "my-coder", cwd=tmp_path, emulator=emulator)
    assert code == 3, err
    assert "state     paused" in out
    assert "endpoint resume my-coder" in out
    emulator.get("my-coder").set("running")
    code, out, _ = await run_cli("status", "my-coder", "--json", cwd=tmp_path, emulator=emulator)
    assert code == 0
    data = json.loads(out)
    assert data["state"] == "running" and data["url"] == emulator.endpoint_url("my-coder")


async def test_resume_then_wait_until_running(
    emulator: EndpointsEmulator, tmp_path: Path
) -> None:
    emulator.add("my-coder", state="paused", init_s=600)
    code, out, err = await run_cli("resume", "my-coder", cwd=tmp_path, emulator=emulator)
    assert code == 0, err
    assert out.startswith("my-coder: resuming (state: initializing)")
    emulator.management_calls.clear()
    waiting = asyncio.ensure_future(
        run_cli("wait", "my-coder", "--timeout", "60", cwd=tmp_path, emulator=emulator)
    )
    # Once the command has seen it initializing (twice: it polls), the replica comes up.
    for _ in range(1500):
        if emulator.verbs().count("GET my-coder") >= 2 or waiting.done():
            break
        await asyncio.sleep(0.02)
    emulator.get("my-coder").set("running")
    code, out, err = await waiting
    assert code == 0, err
    assert "my-coder: initializing" in err  # progress on stderr
    assert out.startswith(f"my-coder: running at {emulator.endpoint_url('my-coder')}")


async def test_wait_times_out_with_124(emulator: EndpointsEmulator, tmp_path: Path) -> None:
    emulator.add("slow", state="paused", init_s=60)
    await run_cli("resume", "slow", cwd=tmp_path, emulator=emulator)
    code, _, err = await run_cli("wait", "slow", "--timeout", "0.5", cwd=tmp_path,
                                 emulator=emulator)
    assert code == 124
    assert "still initializing after 0.5 s" in err


async def test_pause_and_scale_to_zero(emulator: EndpointsEmulator, tmp_path: Path) -> None:
    emulator.add("my-coder", state="running")
    code, out, _ = await run_cli("scale-to-zero", "my-coder", cwd=tmp_path, emulator=emulator)
    assert code == 0 and out.strip() == "my-coder: scaled to zero (state: scaledToZero)"
    code, out, _ = await run_cli("pause", "my-coder", cwd=tmp_path, emulator=emulator)
    assert code == 0 and out.strip() == "my-coder: paused (state: paused)"
    assert emulator.get("my-coder").state == "paused"


async def test_errors_are_one_line_with_exit_1(
    emulator: EndpointsEmulator, tmp_path: Path
) -> None:
    code, out, err = await run_cli("status", "nope", cwd=tmp_path, emulator=emulator)
    assert code == 1 and out == ""
    assert err.strip() == (
        "endpoint status: endpoint 'nope' not found: check endpoint name and namespace"
    )
    code, _, err = await run_cli("status", "nope", cwd=tmp_path, emulator=emulator, token=None)
    assert code == 1 and "no Hugging Face token" in err
    code, _, err = await run_cli("resume", cwd=tmp_path, emulator=emulator)
    assert code == 1 and "NAME is required" in err
    bad = "hf_badtoken0123456789abcdefghijk"
    code, out, err = await run_cli("list", cwd=tmp_path, emulator=emulator, token=bad)
    assert code == 1 and bad not in out + err


def endpoint_config(tmp_path: Path, endpoint: str) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(
        "models:\n  - name: fim\n    provider: huggingfaceinferenceapi\n"
        "    model: bigcode/starcoder2-3b\n"
        f"    endpoint: {{name: {endpoint}, namespace: {DEFAULT_NAMESPACE}}}\n"
        f"    apiKey: {TOKEN}\n    roles: [autocomplete]\n"
    )
    return config


async def run_top(
    *args: str, cwd: Path, emulator: EndpointsEmulator
) -> tuple[int, str, str]:
    env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf"),
           "BYTEBUDDY_ENDPOINTS_API_URL": emulator.api_url, "HF_ENDPOINT": emulator.server.url}
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bytebuddy_ls", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_complete_on_a_paused_endpoint_says_how_to_resume_it(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    emulator.add("cli-coder", state="paused")
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n")
    config = endpoint_config(tmp_path, "cli-coder")
    code, out, err = await run_top("complete", f"{source}:2:5", "--config", str(config),
                                   cwd=tmp_path, emulator=emulator)
    assert code == 1 and out == ""
    assert "Endpoint 'cli-coder' (fim) is paused" in err
    assert "bytebuddy-ls endpoint resume cli-coder" in err
    assert emulator.get("cli-coder").state == "paused"
    # Running: the suggestion comes from the endpoint's URL.
    emulator.get("cli-coder").set("running")
    hf_server.script(reply="return a + b")
    code, out, err = await run_top("complete", f"{source}:2:5", "--config", str(config),
                                   cwd=tmp_path, emulator=emulator)
    assert code == 0, err
    assert out == "return a + b\n"
    assert any(r.path.startswith("/endpoints/cli-coder/") for r in hf_server.requests)


async def test_doctor_reports_endpoint_state_without_waking_it(
    emulator: EndpointsEmulator, tmp_path: Path
) -> None:
    emulator.add("cli-coder", state="scaledToZero")
    config = endpoint_config(tmp_path, "cli-coder")
    code, out, err = await run_top("doctor", "--config", str(config), cwd=tmp_path,
                                   emulator=emulator)
    assert f"endpoint {DEFAULT_NAMESPACE}/cli-coder scaled to zero" in out, out + err
    assert emulator.get("cli-coder").state == "scaledToZero"  # not woken (it would bill)
    emulator.get("cli-coder").set("paused")
    code, out, err = await run_top("doctor", "--config", str(config), cwd=tmp_path,
                                   emulator=emulator)
    assert code == 2  # doctor: a model is not usable
    assert "paused: `bytebuddy-ls endpoint resume cli-coder`" in out, out + err
    emulator.get("cli-coder").set("running")
    code, out, err = await run_top("doctor", "--config", str(config), cwd=tmp_path,
                                   emulator=emulator)
    assert code == 0, out + err
    assert f"endpoint {DEFAULT_NAMESPACE}/cli-coder running; reachable" in out
    assert TOKEN not in out + err
