// Page-level helpers for driving the VS Code workbench (code-server) with playwright-core.
import fs from 'node:fs';
import { waitFor } from './harness.mjs';

export const STATUS_ITEM = '[id="bytebuddy.bytebuddy-vscode.bytebuddy.status"]';

export async function statusLabel(page) {
  return (await page.locator(STATUS_ITEM).getAttribute('aria-label', { timeout: 2000 }).catch(() => null)) ?? '';
}

/** Waits until the ByteBuddy status bar item's label starts with `ByteBuddy <state>`. */
export async function waitForStatus(page, state, timeoutMs = 30000) {
  return waitFor(async () => (await statusLabel(page)).startsWith(`ByteBuddy ${state}`) && (await statusLabel(page)), {
    timeoutMs,
    what: `status "${state}" (last: "${await statusLabel(page)}")`,
  });
}

/** Starts remembering every label the status item shows (polled; see waitForStatusSeen). */
export async function recordStatusHistory(page) {
  statusHistories.set(page, []);
}

const statusHistories = new WeakMap();

export async function statusHistory(page) {
  const history = statusHistories.get(page) ?? [];
  const current = await statusLabel(page);
  if (current !== '' && history[history.length - 1] !== current) {
    history.push(current);
  }
  return history;
}

/** Waits until the status item has shown `ByteBuddy <state>` since recording began. */
export async function waitForStatusSeen(page, state, timeoutMs = 30000) {
  return waitFor(async () => (await statusHistory(page)).find((label) => label.startsWith(`ByteBuddy ${state}`)), {
    timeoutMs,
    intervalMs: 25,
    what: `status "${state}" (seen: ${JSON.stringify(await statusHistory(page))})`,
  });
}

export async function openWorkbench(page, url, folder) {
  await page.goto(`${url}/?folder=${encodeURIComponent(folder)}`);
  await page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 60000 });
}

/** Runs a command by its palette title (e.g. "ByteBuddy: Open chat"). */
export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 10000 });
  await row.click();
}

/** Opens a workspace file through Quick Open and waits for its editor to have focus. */
export async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(name);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
  await row.waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.press('Enter');
  // The active group's tab: the same file may also be open in another group (chat beside).
  await page.locator('.editor-group-container.active .tab.active', { hasText: name }).waitFor({ timeout: 10000 });
  const editor = page.locator('.editor-instance .monaco-editor textarea, .editor-instance .monaco-editor .native-edit-context').first();
  await editor.waitFor({ state: 'attached', timeout: 10000 });
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  return editor;
}

export async function save(page) {
  await page.keyboard.press('Control+S');
}

/** Waits until the file on disk satisfies `predicate` (read through the file, not the DOM). */
export async function waitForFile(file, predicate, what, timeoutMs = 15000) {
  return waitFor(() => {
    const text = fs.readFileSync(file, 'utf8');
    return predicate(text) ? text : false;
  }, { timeoutMs, what: `${what} (file now: ${JSON.stringify(fs.readFileSync(file, 'utf8'))})` });
}

/** The chat webview's inner document (VS Code nests it in two iframes). */
export function chatFrame(page) {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}
