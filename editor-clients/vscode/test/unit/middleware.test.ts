import * as vscode from 'vscode';
import { describe, expect, it, vi } from 'vitest';
import type { Middleware } from 'vscode-languageclient/node';
import { createMiddleware } from '../../src/middleware';
import { ByteBuddySettings, readSettings, serverSettingsSection } from '../../src/settings';

const base = readSettings({ get: () => undefined });

function build(settings: ByteBuddySettings): Middleware {
  return createMiddleware(() => settings, () => serverSettingsSection(settings, '/ws'));
}
type AnyFn = (...args: unknown[]) => unknown;

describe('middleware', () => {
  it('asks the server for inline completions only while autocomplete is on', async () => {
    const next = vi.fn(async () => [{ insertText: 'x' }]);
    const on = build(base).provideInlineCompletionItems as AnyFn;
    expect(await on('doc', 'pos', { triggerKind: 1 }, {}, next)).toEqual([{ insertText: 'x' }]);
    const off = build({ ...base, autocompleteEnabled: false }).provideInlineCompletionItems as AnyFn;
    expect(await off('doc', 'pos', { triggerKind: 1 }, {}, next)).toBeUndefined();
    expect(next).toHaveBeenCalledTimes(1);
  });

  it('keeps the AI item out of the completion list unless the fallback is on', async () => {
    const next = vi.fn(async () => [{ label: 'ai' }]);
    expect(await (build(base).provideCompletionItem as AnyFn)('d', 'p', {}, {}, next)).toBeUndefined();
    expect(await (build({ ...base, completionFallback: true }).provideCompletionItem as AnyFn)('d', 'p', {}, {}, next)).toEqual([{ label: 'ai' }]);
  });

  it('answers workspace/configuration pulls of the bytebuddy section with resolved values', async () => {
    const next = vi.fn(async () => [{ raw: true }, { tabSize: 4 }]);
    const configuration = build({ ...base, configPath: 'c.yaml' }).workspace!.configuration as AnyFn;
    const answers = (await configuration({ items: [{ section: 'bytebuddy' }, { section: 'editor' }] }, {}, next)) as unknown[];
    expect(answers[0]).toMatchObject({ configPath: '/ws/c.yaml', autocomplete: { enabled: true } });
    expect(answers[1]).toEqual({ tabSize: 4 });
  });

  it('asks for the instruction of an "Edit with instruction…" code action', async () => {
    const next = vi.fn(async () => ({ applied: true }));
    const run = build(base).executeCommand as AnyFn;
    const ask = vi.mocked(vscode.window.showInputBox);
    ask.mockResolvedValueOnce('add types');
    await run('bytebuddy.edit', [{ uri: 'file:///a.py', range: {} }], next);
    expect(next).toHaveBeenLastCalledWith('bytebuddy.edit', [{ uri: 'file:///a.py', range: {}, instruction: 'add types' }]);
    ask.mockResolvedValueOnce(undefined);
    next.mockClear();
    expect(await run('bytebuddy.edit', [{ uri: 'file:///a.py', range: {} }], next)).toBeUndefined();
    expect(next).not.toHaveBeenCalled();
    await run('bytebuddy.apply', [{ uri: 'u', code: 'c' }], next);
    expect(next).toHaveBeenCalledWith('bytebuddy.apply', [{ uri: 'u', code: 'c' }]);
  });
});

describe('the "Edit with instruction…" code action', () => {
  const executeCommand = (build(base).executeCommand as AnyFn).bind(undefined);

  it('asks for the instruction the action leaves out, then runs bytebuddy.edit with it', async () => {
    const vscode = await import('vscode');
    const mocked = vscode as unknown as typeof import('./vscode-mock');
    mocked.window.showInputBox.mockResolvedValueOnce('add error handling');
    const next = vi.fn(async () => null);
    const range = { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } };
    await executeCommand('bytebuddy.edit', [{ uri: 'file:///a.py', range }], next);
    expect(next).toHaveBeenCalledWith('bytebuddy.edit', [{ uri: 'file:///a.py', range, instruction: 'add error handling' }]);
  });

  it('runs nothing when the input box is dismissed, and passes other commands through untouched', async () => {
    const next = vi.fn(async () => null);
    await executeCommand('bytebuddy.edit', [{ uri: 'file:///a.py' }], next);
    expect(next).not.toHaveBeenCalled();
    await executeCommand('bytebuddy.edit', [{ uri: 'file:///a.py', instruction: 'x' }], next);
    await executeCommand('bytebuddy.acceptCompletion', [{ id: '1' }], next);
    expect(next).toHaveBeenCalledTimes(2);
  });
});
