// A repository with its own .bytebuddy/config.yaml, in a real VS Code (code-server): the
// server's trust prompt shows as a notification, "Not now" keeps the config without the
// user's secrets, `bytebuddy-ls trust` from a terminal trusts it, an edit asks again and
// the notification's "Trust" button trusts the new content.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import * as h from './harness.mjs';
import { openFile, openWorkbench, statusLabel, waitForStatus } from './workbench.mjs';

const execFileAsync = promisify(execFile);
const codeServer = process.env.CODE_SERVER;
const KEY = `e2e-key-${process.pid}-${Date.now()}`;
const PROMPT = "This repository's ByteBuddy config";

function writeRepoConfig(file, hfBase, extra = '') {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    `models:
  - name: fim
    provider: huggingface-tgi
    model: bigcode/starcoder2-3b
    apiBase: ${hfBase}
    apiKey: \${BYTEBUDDY_E2E_KEY}
    roles: [autocomplete]
${extra}`,
  );
}

/** The visible notification toast carrying the trust prompt. */
function promptToast(page) {
  return page.locator('.notification-toast', { hasText: PROMPT }).last();
}

describe('trusting a repository config in VS Code', { timeout: 300000 }, () => {
  let runDir;
  let workspace;
  let configFile;
  let stateDir;
  let hf;
  let page;
  const cleanups = [];

  before(async () => {
    assert.ok(codeServer, 'CODE_SERVER must point at the code-server launcher (make e2e sets it)');
    runDir = h.makeRunDir('trust');
    workspace = path.join(runDir, 'repo');
    stateDir = path.join(runDir, 'state');
    fs.mkdirSync(workspace);
    fs.writeFileSync(path.join(workspace, 'ghost.py'), 'def add(a, b):\n    ');
    hf = await h.startHfServer(runDir);
    cleanups.push(() => hf.stop());
    configFile = path.join(workspace, '.bytebuddy', 'config.yaml');
    writeRepoConfig(configFile, hf.base);
    const extensionsDir = path.join(runDir, 'extensions');
    await h.installExtension(codeServer, extensionsDir, path.join(runDir, 'user-data'));
    const codeServerProcess = await h.startCodeServer({
      codeServer,
      runDir,
      extensionsDir,
      workspace,
      settings: h.userSettings({ 'bytebuddy.serverPath': h.writeLoggingServerWrapper(runDir), 'bytebuddy.logLevel': 'debug' }),
      env: { BYTEBUDDY_E2E_KEY: KEY, XDG_STATE_HOME: stateDir },
    });
    cleanups.push(() => codeServerProcess.stop());
    const browser = await h.launchBrowser();
    cleanups.push(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await openWorkbench(page, codeServerProcess.url, workspace);
  });

  after(async () => {
    if (page !== undefined) {
      await h.screenshot(page, 'trust-last').catch(() => undefined);
    }
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error) => console.error('cleanup:', error));
    }
    if (runDir !== undefined) {
      fs.mkdirSync(h.artifactsDir, { recursive: true });
      if (fs.existsSync(path.join(runDir, 'bytebuddy-ls.log'))) {
        fs.copyFileSync(path.join(runDir, 'bytebuddy-ls.log'), path.join(h.artifactsDir, 'trust-bytebuddy-ls.log'));
      }
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });

  test('Not now, then bytebuddy-ls trust, then an edit and the Trust button', async () => {
    // The prompt names what the file reads and where it would send requests.
    const toast = promptToast(page);
    await toast.waitFor({ state: 'visible', timeout: 60000 });
    const message = await toast.innerText();
    assert.match(message, /\$BYTEBUDDY_E2E_KEY/);
    assert.match(message, /127\.0\.0\.1/);
    assert.ok(!message.includes(KEY), 'the prompt never shows a value');
    await h.screenshot(page, 'trust-prompt');
    await toast.getByRole('button', { name: 'Not now' }).click();
    await waitFor(async () => /not trusted/.test(await statusLabel(page)), 'an untrusted status');

    // Untrusted: typing asks no model (the only one reads a variable).
    await openFile(page, 'ghost.py');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('r', { delay: 50 });
    await page.waitForTimeout(1500);
    assert.equal((await hf.requests()).length, 0, 'nothing was sent before trust');

    // Trusted from a terminal: the running server picks it up.
    const { stdout } = await execFileAsync(h.paths.serverExecutable, ['trust', configFile], {
      env: { ...process.env, XDG_STATE_HOME: stateDir },
    });
    assert.match(stdout, /\$BYTEBUDDY_E2E_KEY/);
    await waitFor(async () => !/not trusted/.test(await statusLabel(page)), 'a trusted status');
    await waitForStatus(page, 'ready');
    await hf.script({ reply: 'eturn a + b', match_path: '/generate*' });
    await page.keyboard.press('Backspace');
    await page.keyboard.type('r', { delay: 50 });
    await page.locator('.ghost-text-decoration, .ghost-text').first().waitFor({ state: 'visible', timeout: 20000 });
    const asked = (await hf.requests()).filter((r) => /generate/.test(r.path));
    assert.ok(asked.length >= 1 && asked.every((r) => r.headers.Authorization === '[REDACTED]'), 'asked, with the key');
    await page.keyboard.press('Escape');

    // An edit is new content: untrusted again, asked again; the Trust button trusts it.
    writeRepoConfig(configFile, hf.base, '# edited\n');
    const again = promptToast(page);
    await again.waitFor({ state: 'visible', timeout: 30000 });
    await again.getByRole('button', { name: 'Trust' }).click();
    await waitFor(async () => {
      const store = path.join(stateDir, 'bytebuddy-ls', 'trusted-configs.json');
      return fs.existsSync(store) && Object.keys(JSON.parse(fs.readFileSync(store, 'utf8')).trusted).length === 2;
    }, 'both contents recorded as trusted');
    await waitFor(async () => !/not trusted/.test(await statusLabel(page)), 'a trusted status again');
    await h.screenshot(page, 'trust-trusted');
  });

  test("a configPath from the repository's .vscode/settings.json is the repository's too", async () => {
    // Outside the repository, so only the setting's source (inspect) can tell.
    const elsewhere = path.join(runDir, 'elsewhere.yaml');
    writeRepoConfig(elsewhere, hf.base, '# chosen by the workspace settings\n');
    fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
    fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'bytebuddy.configPath': elsewhere }));
    const toast = page.locator('.notification-toast', { hasText: 'elsewhere.yaml' }).last();
    await toast.waitFor({ state: 'visible', timeout: 30000 });
    assert.ok((await toast.innerText()).includes(PROMPT), 'the trust prompt');
    await h.screenshot(page, 'trust-workspace-setting');
    await toast.getByRole('button', { name: 'Not now' }).click();
    await waitFor(async () => /not trusted/.test(await statusLabel(page)), 'the workspace-chosen config untrusted');
  });
});

function waitFor(check, what) {
  return h.waitFor(check, { timeoutMs: 30000, what });
}
