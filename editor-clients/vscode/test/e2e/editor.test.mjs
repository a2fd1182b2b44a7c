// End to end in a real VS Code (code-server) with the packaged extension, the real
// bytebuddy-ls and the loopback HF test server. Screenshots go to test-artifacts/vscode/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import * as h from './harness.mjs';
import {
  chatFrame,
  openFile,
  STATUS_ITEM,
  openWorkbench,
  recordStatusHistory,
  runCommand,
  save,
  statusHistory,
  waitForFile,
  waitForStatus,
  waitForStatusSeen,
} from './workbench.mjs';

const codeServer = process.env.CODE_SERVER;
const files = {
  'ghost.py': 'def add(a, b):\n    ',
  'action.py': 'def total(items):\n    s = 0\n    for i in items:\n        s = s + i\n    return s\n',
  'loading.py': 'import os\n\n',
  'chat.py': 'def greet(name):\n    print("hi " + name)\n',
  'geometry.py': 'def distance(a, b, *, squared=False):\n    """Euclidean distance between two points."""\n    return 0.0\n',
  'uses.py': 'from geometry import distance\n\nd = distance(',
};

describe('VS Code extension in code-server', { timeout: 300000 }, () => {
  let runDir;
  let workspace;
  let hf;
  let stateHome;
  let codeServerProcess;
  let browser;
  let page;
  const cleanups = [];

  before(async () => {
    assert.ok(codeServer, 'CODE_SERVER must point at the code-server launcher (make e2e sets it)');
    runDir = h.makeRunDir('e2e');
    workspace = path.join(runDir, 'workspace');
    fs.mkdirSync(workspace);
    for (const [name, text] of Object.entries(files)) {
      fs.writeFileSync(path.join(workspace, name), text);
    }
    // The server's usage ledger lives here; seeded with an earlier session's calls.
    stateHome = path.join(runDir, 'state');
    h.seedUsageLedger(stateHome);
    hf = await h.startHfServer(runDir);
    cleanups.push(() => hf.stop());
    const configPath = path.join(runDir, 'config.yaml');
    h.writeModelConfig(configPath, hf.base);

    const extensionsDir = path.join(runDir, 'extensions');
    await h.installExtension(codeServer, extensionsDir, path.join(runDir, 'user-data'));
    codeServerProcess = await h.startCodeServer({
      codeServer,
      runDir,
      extensionsDir,
      workspace,
      settings: h.userSettings({
        // The server keeps its usage ledger in the run's folder.
        'bytebuddy.serverPath': h.writeLoggingServerWrapper(runDir, { XDG_STATE_HOME: stateHome }),
        'bytebuddy.configPath': configPath,
        'bytebuddy.logLevel': 'debug',
      }),
    });
    cleanups.push(() => codeServerProcess.stop());
    browser = await h.launchBrowser();
    cleanups.push(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await openWorkbench(page, codeServerProcess.url, workspace);
    await waitForStatus(page, 'ready', 60000);
  });

  after(async () => {
    if (page !== undefined) {
      await h.screenshot(page, 'last').catch(() => undefined);
    }
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error) => console.error('cleanup:', error));
    }
    if (runDir !== undefined) {
      // Keep the server and code-server logs next to the screenshots for failures.
      fs.mkdirSync(h.artifactsDir, { recursive: true });
      for (const log of ['code-server.log', 'hf-server.log', 'bytebuddy-ls.log']) {
        if (fs.existsSync(path.join(runDir, log))) {
          fs.copyFileSync(path.join(runDir, log), path.join(h.artifactsDir, log));
        }
      }
      fs.rmSync(runDir, { recursive: true, force: true });
    }
  });

  beforeEach(async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
  });

  test('ghost text appears while typing and Tab accepts it into the file', async () => {
    await hf.reset();
    await hf.script({ reply: 'eturn a + b', match_path: '/generate*' });
    await openFile(page, 'ghost.py');
    await page.keyboard.press('Control+End');
    await page.keyboard.type('r', { delay: 50 });
    const ghost = page.locator('.ghost-text-decoration, .ghost-text').first();
    await ghost.waitFor({ state: 'visible', timeout: 15000 });
    // The rendered line includes the ghost text (VS Code renders spaces as U+00A0).
    const rendered = (await page.locator('.view-lines').first().innerText()).replace(/\u00a0/g, ' ');
    assert.match(rendered, /return a \+ b/);
    await h.screenshot(page, 'ghost-text');
    await page.keyboard.press('Tab');
    await save(page);
    const file = path.join(workspace, 'ghost.py');
    await waitForFile(file, (text) => text === 'def add(a, b):\n    return a + b', 'the accepted suggestion on disk');
    const generations = (await hf.requests()).filter((r) => /generate/.test(r.path));
    assert.ok(generations.length >= 1, 'the FIM model was asked');
  });

  test('a code action applies its edit', async () => {
    await hf.reset();
    const improved = 'def total(items):\n    return sum(items)\n';
    await hf.script({ reply: '```python\n' + improved + '```', match_path: '/v1/chat/completions' });
    await openFile(page, 'action.py');
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Control+.');
    const menu = page.locator('.action-widget');
    await menu.waitFor({ state: 'visible', timeout: 15000 });
    await h.screenshot(page, 'code-actions');
    const items = await menu.locator('.monaco-list-row').allInnerTexts();
    assert.ok(items.some((text) => /ByteBuddy: Refactor/.test(text)), `a ByteBuddy refactor action is offered (menu: ${JSON.stringify(items)})`);
    // The menu takes keyboard selection (a pointer block covers it from clicks).
    for (let step = 0; step < items.length; step++) {
      const focused = await menu.locator('.monaco-list-row.focused').getAttribute('aria-label');
      if (/ByteBuddy: Refactor/.test(focused ?? '')) {
        break;
      }
      await page.keyboard.press('ArrowDown');
    }
    await page.keyboard.press('Enter');
    await menu.waitFor({ state: 'hidden' });
    await save(page);
    const file = path.join(workspace, 'action.py');
    await waitForFile(file, (text) => text.includes('return sum(items)'), 'the code action edit on disk', 30000);
    await h.screenshot(page, 'code-action-applied');
  });

  test('the status bar reflects a loading model', async () => {
    await hf.reset();
    await hf.script({
      status: 503,
      body: { error: 'Model bigcode/starcoder2-3b is currently loading', estimated_time: 20 },
      match_path: '/generate*',
    });
    await openFile(page, 'loading.py');
    await recordStatusHistory(page);
    await page.keyboard.press('Control+End');
    await page.keyboard.type('de', { delay: 50 });
    const label = await waitForStatusSeen(page, 'loading', 15000);
    assert.match(label, /fim|starcoder2-3b/, 'the label names the model');
    assert.match(await page.locator(STATUS_ITEM).innerText(), /loading/);
    await h.screenshot(page, 'status-loading');
    const requests = await hf.requests();
    assert.ok(requests.some((r) => /generate/.test(r.path)), 'the FIM model was asked');
    await hf.reset();
    await page.keyboard.press('Escape');
    // Discard the typing so the file stays as it was.
    await page.keyboard.press('Control+Z');
  });

  test('chat streams into the panel and Apply edits the file', async () => {
    await hf.reset();
    const answer = 'Use an f-string:\n\n```python\ndef greet(name):\n    print(f"hi {name}")\n```\n\nIt reads better.';
    await hf.script({ reply: answer, token_delay_s: 0.08, match_path: '/v1/chat/completions' });
    await openFile(page, 'chat.py');
    await page.keyboard.press('Control+A');
    await runCommand(page, 'ByteBuddy: Open chat');
    const chat = chatFrame(page);
    const prompt = chat.locator('#prompt');
    await prompt.waitFor({ state: 'visible', timeout: 20000 });
    await prompt.fill('How can I improve this?');
    await prompt.press('Enter');
    const reply = chat.locator('.message.assistant').last();
    // Caught mid-stream: some text is there, the answer is not finished yet.
    await reply.locator('.prose').first().waitFor({ timeout: 20000 });
    const midStream = await reply.getAttribute('data-done');
    await h.screenshot(page, 'chat-streaming');
    await chat.locator('.message.assistant[data-done="true"]').last().waitFor({ timeout: 30000 });
    const deltas = Number(await reply.getAttribute('data-deltas'));
    assert.equal(midStream, 'false', 'the answer was visible before it was complete');
    assert.ok(deltas > 1, `the answer arrived in several partial results (got ${deltas})`);
    assert.match(await reply.innerText(), /print\(f"hi \{name\}"\)/);
    assert.match(await chat.locator('.message.user').last().innerText(), /chat\.py:1-2/);
    await h.screenshot(page, 'chat-done');

    await reply.locator('button.apply').first().click();
    await page.waitForTimeout(500);
    // Apply edits the document; save it from its editor.
    await openFile(page, 'chat.py');
    await save(page);
    const file = path.join(workspace, 'chat.py');
    await waitForFile(file, (text) => text.includes('print(f"hi {name}")'), 'the applied code on disk', 30000);
    await h.screenshot(page, 'chat-applied');
  });

  test("today's spend in the status tooltip and the usage view", async () => {
    await runCommand(page, 'View: Close All Editors');
    await page.locator(STATUS_ITEM).hover();
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Today:' }).first();
    await hover.waitFor({ state: 'visible', timeout: 15000 });
    // The seeded session cost $0.75; the test server's models are free.
    assert.match(await hover.innerText(), /Today: \$0\.7500 · ~?[\d,]+ tokens · \d+ requests/);
    await h.screenshot(page, 'usage-tooltip');
    await page.mouse.move(10, 10);

    await runCommand(page, 'ByteBuddy: Show usage');
    const view = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    const qwen = view.locator('#usage tr.row', { hasText: 'qwen' });
    await qwen.waitFor({ timeout: 20000 });
    assert.match(await qwen.innerText(), /qwen\s+2\s+1,500\s+300\s+\$0\.7500/);
    // Calls made by the tests above were recorded by the server: the FIM model is listed.
    assert.ok(await view.locator('#usage tr.row', { hasText: 'fim' }).count(), 'live calls are in the ledger');
    await view.locator('#groupings a', { hasText: 'provider' }).click();
    await view.locator('#usage th', { hasText: 'provider' }).waitFor({ timeout: 15000 });
    assert.ok(await view.locator('#usage tr.row', { hasText: 'together' }).count(), 'grouped by provider');
    await h.screenshot(page, 'usage-view');
  });

  test('the context inspector shows what the next prompt takes from other files', async () => {
    await hf.reset();
    await hf.script({ reply: 'p, q)', match_path: '/generate*' });
    // Start from one editor group: earlier tests leave the chat panel beside the code.
    await runCommand(page, 'View: Close All Editor Groups');
    await openFile(page, 'uses.py');
    await page.keyboard.press('Control+End');
    await runCommand(page, 'ByteBuddy: Show context for the cursor');
    await page.locator('.tab', { hasText: 'ByteBuddy context.md' }).waitFor({ timeout: 20000 });
    const shown = page.locator('.editor-group-container', { has: page.locator('.tab.active', { hasText: 'ByteBuddy context.md' }) });
    const text = await h.waitFor(
      async () => {
        const rendered = (await shown.locator('.view-lines').first().innerText()).replace(/\u00a0/g, ' ');
        return /geometry\.py:1-/.test(rendered) && rendered;
      },
      { timeoutMs: 20000, what: 'the context report naming geometry.py' },
    );
    assert.match(text, /definition `distance`/);
    assert.match(text, /Euclidean distance between two points/);
    assert.match(text, /format\s+\*\*starcoder2\*\*/);
    await h.screenshot(page, 'context-inspector');
  });
});
