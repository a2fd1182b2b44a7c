"""Real headless Neovim 0.11 + the real bytebuddy-ls + the loopback HF test server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pynvim
import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PLUGIN_DIR.parents[1]
VENV_BIN = Path(sys.executable).parent
MINIMAL_INIT = PLUGIN_DIR / "tests" / "minimal_init.lua"
HF_SERVER_SCRIPT = REPO_ROOT / "tests" / "hf_server.py"

# Hard ceiling for one Neovim session: a hung editor is killed, never waited on forever.
SESSION_TIMEOUT_S = 90.0


def _find_binary(name: str, env_var: str) -> Path:
    override = os.environ.get(env_var)
    candidate = Path(override) if override else VENV_BIN / name
    if not candidate.exists():
        pytest.fail(f"{name} not found at {candidate}; run `make -C editor-clients/neovim test`")
    return candidate


@pytest.fixture(scope="session")
def nvim_bin() -> Path:
    return _find_binary("nvim", "BYTEBUDDY_TEST_NVIM")


@pytest.fixture(scope="session")
def server_bin() -> Path:
    return _find_binary("bytebuddy-ls", "BYTEBUDDY_TEST_SERVER")


def _child_pids(pid: int) -> list[int]:
    """All descendants of pid (Linux /proc), deepest last."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.append(int(child))
            found.extend(_child_pids(int(child)))
    return found


def _start_time(pid: int) -> str | None:
    """Process start time (field 22 of /proc/PID/stat): tells a PID from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


class HFServer:
    """The loopback HF-compatible test server (tests/hf_server.py), run as a process."""

    def __init__(self, tmp: Path) -> None:
        if not HF_SERVER_SCRIPT.exists():
            pytest.fail(f"{HF_SERVER_SCRIPT} is missing (the server's test double)")
        port_file = tmp / "hf_port"
        self.log_path = tmp / "hf_server.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HF_SERVER_SCRIPT), "--port", "0", "--port-file", str(port_file)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        else:
            self.stop()
            pytest.fail("the HF test server did not write its port within 15 s")
        if self.proc.poll() is not None:
            self.stop()
            pytest.fail(f"the HF test server exited: {self.log_path.read_text()}")
        self.port = int(port_file.read_text().strip())
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def script(self, reply: str, **rule: Any) -> None:
        """Sets the text every generation route answers (plus optional rule fields such
        as token_delay_s; see tests/hf_server.py)."""
        self._call("POST", "/_test/script", {"reply": reply, **rule})

    def requests(self) -> list[dict[str, Any]]:
        result = self._call("GET", "/_test/requests")
        if isinstance(result, dict) and "requests" in result:
            return list(result["requests"])
        return list(result or [])

    def reset(self) -> None:
        self._call("POST", "/_test/reset", {})

    def endpoint(self, name: str, **spec: Any) -> None:
        """Adds or changes an emulated Inference Endpoint (tests/endpoints_server.py)."""
        self._call("POST", "/_test/endpoint", {"name": name, **spec})

    def endpoint_states(self) -> dict[str, str]:
        return dict(self._call("GET", "/_test/endpoints") or {})

    @property
    def endpoints_env(self) -> dict[str, str]:
        """The server's environment for the emulated Inference Endpoints API."""
        return {"BYTEBUDDY_ENDPOINTS_API_URL": self.base_url + "/v2", "HF_ENDPOINT": self.base_url}

    def generation_requests(self) -> list[dict[str, Any]]:
        """Requests that asked a model for text (not GET /info, /health, /v1/models)."""
        return [r for r in self.requests() if r["method"] == "POST"]

    def models_config(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": "fim",
                    "provider": "huggingface-tgi",
                    "model": "bigcode/starcoder2-3b",
                    "apiBase": self.base_url,
                    "apiKey": "test-key",
                    "roles": ["autocomplete"],
                },
                {
                    "name": "chat",
                    "provider": "openai",
                    "model": "test-chat",
                    "apiBase": self.base_url + "/v1",
                    "apiKey": "test-key",
                    "roles": ["chat", "edit", "apply"],
                },
            ]
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture
def hf_server(tmp_path: Path) -> Iterator[HFServer]:
    server = HFServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


class Editor:
    """A headless Neovim driven over its RPC socket with pynvim."""

    def __init__(self, nvim_bin: Path, workdir: Path, path_env: str | None = None) -> None:
        self.workdir = workdir
        home = workdir / "home"
        for sub in ("config", "data", "state", "cache"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG", "NVIM", "VIMINIT"}
        }
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CACHE_HOME=str(home / "cache"),
            HF_HOME=str(home / "hf"),
        )
        if path_env is not None:
            env["PATH"] = path_env
        self.socket = str(workdir / "nvim.sock")
        self.stderr_path = workdir / "nvim.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(nvim_bin),
                "--headless",
                "--clean",
                "-n",
                "-u",
                str(MINIMAL_INIT),
                "--listen",
                self.socket,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=workdir,
            env=env,
        )
        self._descendants: dict[int, str | None] = {}
        self._watchdog = threading.Timer(SESSION_TIMEOUT_S, self._kill_all)
        self._watchdog.daemon = True
        self._watchdog.start()
        deadline = time.monotonic() + 15
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"nvim did not start: {self.stderr_path.read_text()}")
            time.sleep(0.02)
        # The socket file can appear a moment before Neovim accepts connections.
        while True:
            try:
                self.nvim = pynvim.attach("socket", path=self.socket)
                break
            except ConnectionRefusedError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    pytest.fail(f"nvim refused connections: {self.stderr_path.read_text()}")
                time.sleep(0.05)

    # -- driving -------------------------------------------------------------------------
    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def input(self, keys: str) -> None:
        """Types keys as a user would (through mappings)."""
        self.nvim.input(keys)

    def wait_for(self, expr: str, timeout: float = 10.0, what: str = "") -> Any:
        """Polls a Lua expression until it is truthy; returns its value or fails the test.

        Polling from Python (rather than vim.wait inside one call) lets Neovim process
        typed keys between checks."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            self.remember_children()
            value = self.lua(f"return {expr}")
            if value:
                return value
            time.sleep(0.03)
        pytest.fail(
            f"timed out after {timeout}s waiting for {what or expr} (last: {value!r})"
            f"\n{self.diagnostics()}"
        )

    def set_up_and_open(self, path: Path, opts: dict[str, Any]) -> None:
        """``require('bytebuddy').setup(opts)``, then open ``path`` and wait until
        bytebuddy-ls is attached to it and initialized."""
        self.lua("require('bytebuddy').setup(...)", opts)
        self.nvim.command(f"edit {path}")
        self.wait_for(
            "#vim.lsp.get_clients({bufnr = 0, name = 'bytebuddy'}) > 0 "
            "and vim.lsp.get_clients({bufnr = 0, name = 'bytebuddy'})[1].initialized",
            timeout=20,
            what="bytebuddy-ls to attach",
        )
        self.remember_children()

    def buffer_lines(self, bufnr: int = 0) -> list[str]:
        return list(self.lua("return vim.api.nvim_buf_get_lines(..., 0, -1, false)", bufnr))

    def notifications(self) -> list[dict[str, Any]]:
        return list(self.lua("return _G.bytebuddy_test_notifications"))

    def messages(self) -> str:
        return str(self.nvim.api.exec2("messages", {"output": True})["output"])

    def diagnostics(self) -> str:
        parts = []
        try:
            parts.append("messages:\n" + self.messages())
            parts.append("status: " + repr(self.lua("return require('bytebuddy').status()")))
        except Exception as exc:  # the editor may be the thing that broke
            parts.append(f"(editor unreachable: {exc})")
        for log in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {log.name} (tail)\n" + log.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    # -- processes -----------------------------------------------------------------------
    def remember_children(self) -> None:
        """Keeps the PIDs of processes Neovim started (bytebuddy-ls) to clean them up."""
        for pid in _child_pids(self.proc.pid):
            self._descendants.setdefault(pid, _start_time(pid))

    def _kill_descendant(self, pid: int) -> None:
        started = self._descendants.get(pid)
        if started is not None and _start_time(pid) == started:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def _kill_all(self) -> None:
        if self.proc.poll() is None:
            self.remember_children()
            self.proc.kill()
        for pid in list(self._descendants):
            self._kill_descendant(pid)

    def close(self) -> None:
        self.remember_children()
        if self.proc.poll() is None:
            if hasattr(self, "nvim"):
                # Stop the language server the way a user's :LspStop does (shutdown, exit),
                # then quit; the connection drops when Neovim exits, that error is expected.
                with contextlib.suppress(Exception):
                    self.lua(
                        "for _, c in ipairs(vim.lsp.get_clients()) do c:stop() end "
                        "vim.wait(3000, function() return #vim.lsp.get_clients() == 0 end, 10)"
                    )
                with contextlib.suppress(Exception):
                    self.nvim.command("qa!")
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        # Neovim stops its language server on exit; give it a moment, then make sure.
        for pid in list(self._descendants):
            if not _wait_dead(pid, 3):
                self._kill_descendant(pid)
        self._watchdog.cancel()
        self._stderr.close()


@pytest.fixture
def editor_factory(nvim_bin: Path, tmp_path: Path) -> Iterator[Callable[..., Editor]]:
    editors: list[Editor] = []

    def make(path_env: str | None = None) -> Editor:
        editor = Editor(nvim_bin, tmp_path, path_env=path_env)
        editors.append(editor)
        return editor

    yield make
    for editor in editors:
        editor.close()


@pytest.fixture
def server_cmd(server_bin: Path, tmp_path: Path) -> list[str]:
    return [
        str(server_bin),
        "serve",
        "--stdio",
        "--log-file",
        str(tmp_path / "server.log"),
        "--log-level",
        "debug",
    ]


@pytest.fixture
def editor(editor_factory: Callable[..., Editor]) -> Editor:
    return editor_factory()


@pytest.fixture
def connected(
    editor: Editor, hf_server: HFServer, server_cmd: list[str], tmp_path: Path
) -> Callable[..., Editor]:
    """Returns a function that writes `content` to a file, sets the plugin up against the
    real server and the loopback HF server, opens the file and waits for the client."""

    def open_file(name: str, content: str, **setup: Any) -> Editor:
        path = tmp_path / name
        path.write_text(content)
        opts: dict[str, Any] = {
            "cmd": server_cmd,
            "init_options": {"config": hf_server.models_config()},
            "debounce_ms": 50,
        }
        opts.update(setup)
        editor.set_up_and_open(path, opts)
        return editor

    return open_file
