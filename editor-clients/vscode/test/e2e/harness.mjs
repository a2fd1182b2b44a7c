// Real-editor test harness: the loopback HF test server, code-server (VS Code) with the
// packaged extension, and headless Debian Chromium driven by playwright-core.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const execFileAsync = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const extensionRoot = path.resolve(here, '..', '..');
export const repoRoot = path.resolve(extensionRoot, '..', '..');
export const artifactsDir = path.resolve(process.env.BYTEBUDDY_ARTIFACTS ?? path.join(repoRoot, 'test-artifacts', 'vscode'));

export const paths = {
  serverExecutable: path.resolve(extensionRoot, process.env.BYTEBUDDY_LS ?? '../../.venv/bin/bytebuddy-ls'),
  python: path.resolve(extensionRoot, process.env.BYTEBUDDY_PYTHON ?? '../../.venv/bin/python'),
  hfServerScript: path.resolve(extensionRoot, '../../tests/hf_server.py'),
  vsix: path.resolve(extensionRoot, process.env.BYTEBUDDY_VSIX ?? 'dist/bytebuddy-vscode.vsix'),
  chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
};

export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

export async function waitFor(check, { timeoutMs = 15000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) {
        return value;
      }
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

/** Kills a process group started with `detached: true` (its own session, like setsid). */
async function killGroup(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    try {
      process.kill(-child.pid, 'SIGKILL'); // leftovers of the group (extension host, server)
    } catch {
      // Group already gone.
    }
    return;
  }
  const exited = once(child, 'exit');
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = sleep(graceMs).then(() => 'timeout');
  if ((await Promise.race([exited, timer])) === 'timeout') {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
    await exited;
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Nothing left in the group.
  }
}

/** The loopback HF-compatible test server from the Python test suite. */
export async function startHfServer(workDir) {
  const portFile = path.join(workDir, 'hf-server.port');
  const logFile = fs.openSync(path.join(workDir, 'hf-server.log'), 'w');
  const child = spawn(paths.python, [paths.hfServerScript, '--port', '0', '--port-file', portFile], {
    detached: true,
    stdio: ['ignore', logFile, logFile],
  });
  const port = await waitFor(() => fs.existsSync(portFile) && Number(fs.readFileSync(portFile, 'utf8').trim()), {
    timeoutMs: 20000,
    what: 'the HF test server port file',
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, route, body) => {
    const response = await fetch(base + route, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`${method} ${route}: HTTP ${response.status} ${await response.text()}`);
    }
    const text = await response.text();
    return text === '' ? null : JSON.parse(text);
  };
  return {
    port,
    base,
    script: (behaviour) => call('POST', '/_test/script', behaviour),
    requests: () => call('GET', '/_test/requests'),
    reset: () => call('POST', '/_test/reset'),
    stop: () => killGroup(child),
  };
}

/**
 * A launcher that runs the real server but also copies its stderr (the server log) to a
 * file, so a failing run leaves the log next to the screenshots.
 */
export function writeLoggingServerWrapper(runDir, env = {}) {
  const wrapper = path.join(runDir, 'bytebuddy-ls-logged');
  const log = path.join(runDir, 'bytebuddy-ls.log');
  const exports = Object.entries(env).map(([name, value]) => `export ${name}='${value}'\n`).join('');
  fs.writeFileSync(
    wrapper,
    `#!/usr/bin/env bash\n${exports}exec '${paths.serverExecutable}' "$@" 2> >(tee -a '${log}' >&2)\n`,
    { mode: 0o755 },
  );
  return wrapper;
}

/** An earlier session's calls in the usage ledger under `stateHome` (written by the server's own code). */
export function seedUsageLedger(stateHome) {
  const script = [
    'import sys, time, pathlib',
    'from bytebuddy_ls.usage.ledger import Ledger, LedgerRow',
    'ledger = Ledger(pathlib.Path(sys.argv[1]) / "bytebuddy-ls" / "usage.sqlite3")',
    'ledger.open()',
    'now = time.time() - 120',
    'ledger.write([',
    '  LedgerRow(now, "qwen", "org/qwen", "together", "chat", "chat", 1000, 200, False, 1.2, 0.3, "ok", "stop", 0.5),',
    '  LedgerRow(now, "qwen", "org/qwen", "nebius", "edit", "edit", 500, 100, False, 0.8, None, "ok", "stop", 0.25),',
    '])',
  ].join('\n');
  execFileSync(paths.python, ['-c', script, stateHome], { stdio: 'inherit' });
}

export function writeModelConfig(file, hfBase) {
  const yaml = `models:
  - name: fim
    provider: huggingface-tgi
    model: bigcode/starcoder2-3b
    apiBase: ${hfBase}
    apiKey: test-key
    roles: [autocomplete]
  - name: chat
    provider: openai
    model: test-chat
    apiBase: ${hfBase}/v1
    apiKey: test-key
    roles: [chat, edit, apply]
`;
  fs.writeFileSync(file, yaml);
}

/** Installs the .vsix the way a user would (cached per build in the run's folder). */
export async function installExtension(codeServer, extensionsDir, userDataDir) {
  await execFileAsync(
    codeServer,
    ['--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', paths.vsix, '--force'],
    { timeout: 120000, env: quietEnv(path.dirname(userDataDir)) },
  );
}

function quietEnv(home) {
  return {
    ...process.env,
    XDG_CONFIG_HOME: path.join(home, 'xdg-config'),
    XDG_DATA_HOME: path.join(home, 'xdg-data'),
    XDG_CACHE_HOME: path.join(home, 'xdg-cache'),
  };
}

/** code-server on loopback, in its own session so the whole tree can be killed. */
export async function startCodeServer({ codeServer, runDir, extensionsDir, workspace, settings, env = {} }) {
  const userDataDir = path.join(runDir, 'user-data');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  const configFile = path.join(runDir, 'code-server.yaml');
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  const port = await freePort();
  const log = fs.openSync(path.join(runDir, 'code-server.log'), 'w');
  const child = spawn(
    codeServer,
    [
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--user-data-dir', userDataDir,
      '--extensions-dir', extensionsDir,
      '--config', configFile,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      workspace,
    ],
    { detached: true, stdio: ['ignore', log, log], env: { ...quietEnv(runDir), ...env } },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) {
        throw new Error(`code-server exited with ${child.exitCode}; see ${path.join(runDir, 'code-server.log')}`);
      }
      const response = await fetch(`${url}/healthz`).catch(() => undefined);
      return response?.ok;
    },
    { timeoutMs: 60000, what: 'code-server to listen' },
  );
  return { url, port, stop: () => killGroup(child, 5000) };
}

export const userSettings = (extra) => ({
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'files.hotExit': 'off',
  'editor.inlineSuggest.enabled': true,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'editor.suggestOnTriggerCharacters': false,
  'editor.parameterHints.enabled': false,
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.autoIndent': 'none',
  'editor.formatOnType': false,
  'editor.acceptSuggestionOnEnter': 'off',
  'chat.commandCenter.enabled': false,
  ...extra,
});

export async function launchBrowser() {
  return chromium.launch({
    executablePath: paths.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export function makeRunDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bytebuddy-vscode-${name}-`));
}

export async function screenshot(page, name) {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
