import { afterEach, describe, expect, it, vi } from 'vitest';
import * as vscode from 'vscode';
import { ChatPanel, contextLabel } from '../../src/chatPanel';
import type { FakeWebviewPanel } from './vscode-mock';
import type { ChatResult } from '../../src/protocol';

const mocked = vscode as unknown as typeof import('./vscode-mock');
const uri = vscode.Uri.file('/ws/pkg/main.py');

function streamingServer(deltas: string[], final: ChatResult) {
  let progress: ((value: unknown) => void) | undefined;
  return {
    request: vi.fn(async (_method: string, _params: unknown): Promise<any> => {
      deltas.forEach((delta) => progress?.({ delta }));
      return final;
    }),
    executeCommand: vi.fn(async (..._args: unknown[]): Promise<unknown> => null),
    onProgress: vi.fn((_token: string, handler: (value: unknown) => void) => {
      progress = handler;
      return new vscode.Disposable(() => (progress = undefined));
    }),
    toProtocolUri: (u: vscode.Uri) => u.toString(),
  };
}

function lastPanel(): FakeWebviewPanel {
  return mocked.window.createWebviewPanel.mock.results.at(-1)!.value as FakeWebviewPanel;
}

let panel: ChatPanel | undefined;
afterEach(() => panel?.dispose());

describe('contextLabel', () => {
  it('names the file and the selected lines', () => {
    expect(contextLabel({ uri })).toBe('main.py');
    expect(contextLabel({ uri, range: new vscode.Range(2, 0, 4, 3) })).toBe('main.py:3-5');
    expect(contextLabel({ uri, range: new vscode.Range(2, 0, 4, 0) })).toBe('main.py:3-4');
    expect(contextLabel({ uri, range: new vscode.Range(6, 1, 6, 9) })).toBe('main.py:7');
  });
});

describe('ChatPanel', () => {
  it('streams partial results into the webview and ends with the final answer', async () => {
    const server = streamingServer(['Hel', 'lo'], { content: 'Hello', model: 'test-chat' });
    const selection = new vscode.Range(1, 0, 3, 0);
    panel = ChatPanel.show(vscode.Uri.file('/ext'), server, () => ({ uri, range: selection }));
    const webview = lastPanel().webview;
    expect(webview.html).toContain("script-src 'nonce-");
    await webview.receive({ type: 'ready' });
    await webview.receive({ type: 'send', text: 'What does this do?' });

    const [method, params] = server.request.mock.calls[0] as [string, Record<string, unknown>];
    expect(method).toBe('bytebuddy/chat');
    expect(params).toMatchObject({
      messages: [{ role: 'user', content: 'What does this do?' }],
      textDocument: { uri: 'file:///ws/pkg/main.py' },
      range: { start: { line: 1, character: 0 }, end: { line: 3, character: 0 } },
    });
    expect(server.onProgress.mock.calls[0][0]).toBe(params.partialResultToken);

    const posted = webview.posted as Array<{ type: string }>;
    expect(posted.map((m) => m.type)).toEqual(['user', 'assistantStart', 'busy', 'delta', 'delta', 'assistantEnd', 'busy']);
    expect(posted.filter((m) => m.type === 'delta')).toEqual([
      { type: 'delta', id: 1, text: 'Hel' },
      { type: 'delta', id: 1, text: 'lo' },
    ]);
    expect(posted.find((m) => m.type === 'assistantEnd')).toEqual({ type: 'assistantEnd', id: 1, content: 'Hello', model: 'test-chat' });
  });

  it('passes on that an answer was cut at the token limit', async () => {
    const server = streamingServer([], { content: 'Partial', model: 'm', truncated: true });
    panel = ChatPanel.show(vscode.Uri.file('/ext'), server, () => undefined);
    await lastPanel().webview.receive({ type: 'ready' });
    await lastPanel().webview.receive({ type: 'send', text: 'Q' });
    const posted = lastPanel().webview.posted as Array<{ type: string }>;
    expect(posted.find((m) => m.type === 'assistantEnd')).toEqual({
      type: 'assistantEnd', id: 1, content: 'Partial', model: 'm', truncated: true,
    });
  });

  it('shows which workspace code @workspace added to the question', async () => {
    const snippet = { kind: 'retrieved' as const, path: 'geo.py', uri: 'file:///ws/geo.py', startLine: 4, endLine: 9, score: 0.5, tokens: 40 };
    const server = streamingServer([], { content: 'A', model: 'm', context: { snippets: [snippet], reason: null } });
    panel = ChatPanel.show(vscode.Uri.file('/ext'), server, () => undefined);
    await lastPanel().webview.receive({ type: 'ready' });
    await lastPanel().webview.receive({ type: 'send', text: '@workspace where?' });
    const posted = lastPanel().webview.posted as Array<{ type: string }>;
    expect(posted.find((m) => m.type === 'assistantEnd')).toEqual({
      type: 'assistantEnd', id: 1, content: 'A', model: 'm', context: 'Context: geo.py:5-9',
    });
  });

  it('keeps the conversation for follow-up questions', async () => {
    const server = streamingServer([], { content: 'A1', model: 'm' });
    panel = ChatPanel.show(vscode.Uri.file('/ext'), server, () => undefined);
    await lastPanel().webview.receive({ type: 'ready' });
    await lastPanel().webview.receive({ type: 'send', text: 'Q1' });
    await lastPanel().webview.receive({ type: 'send', text: 'Q2' });
    const second = server.request.mock.calls[1][1] as { messages: unknown[]; textDocument?: unknown };
    expect(second.messages).toEqual([
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'Q2' },
    ]);
    expect(second.textDocument).toBeUndefined();
  });

  it('applies a code block to the file and range the question was about', async () => {
    const server = streamingServer([], { content: '```py\nx = 1\n```', model: 'm' });
    const selection = new vscode.Range(4, 0, 6, 0);
    panel = ChatPanel.show(vscode.Uri.file('/ext'), server, () => ({ uri, range: selection }));
    await lastPanel().webview.receive({ type: 'ready' });
    await lastPanel().webview.receive({ type: 'send', text: 'Refactor' });
    await lastPanel().webview.receive({ type: 'apply', id: 1, code: 'x = 1' });
    expect(server.executeCommand).toHaveBeenCalledWith(
      'bytebuddy.apply',
      { uri: 'file:///ws/pkg/main.py', code: 'x = 1', range: { start: { line: 4, character: 0 }, end: { line: 6, character: 0 } } },
      expect.anything(),
    );
  });

  it('shows a failed request in the panel and drops the unanswered question', async () => {
    const server = streamingServer([], { content: '', model: '' });
    server.request.mockRejectedValueOnce(new Error('HTTP 500 from the model'));
    panel = ChatPanel.show(vscode.Uri.file('/ext'), server, () => undefined);
    await lastPanel().webview.receive({ type: 'ready' });
    await lastPanel().webview.receive({ type: 'send', text: 'Q' });
    expect(lastPanel().webview.posted).toContainEqual({ type: 'failed', id: 1, message: 'The chat request failed: HTTP 500 from the model' });
    server.request.mockResolvedValueOnce({ content: 'ok', model: 'm' });
    await lastPanel().webview.receive({ type: 'send', text: 'Q again' });
    expect((server.request.mock.calls[1][1] as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'Q again' }]);
  });
});
