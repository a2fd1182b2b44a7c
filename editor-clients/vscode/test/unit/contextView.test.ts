import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as vscode from 'vscode';
import { CommandDeps, ContextDocument, registerCommands, showContext } from '../../src/commands';
import { CONTEXT_SCHEME, formatContextReport, summarizeChatContext } from '../../src/contextView';
import type { ContextAnswer } from '../../src/protocol';
import { commands as fakeCommands, contentProviders } from './vscode-mock';

const mocked = vscode as unknown as typeof import('./vscode-mock');

const answer: ContextAnswer = {
  role: 'autocomplete',
  model: 'fim',
  modelId: 'Qwen/Qwen2.5-Coder-7B',
  kind: 'fim',
  format: 'qwen',
  snippets: [
    {
      kind: 'definition',
      path: 'geometry.py',
      uri: 'file:///ws/geometry.py',
      startLine: 4,
      endLine: 7,
      score: 1,
      tokens: 51,
      text: 'def distance(a, b):\n    """Euclidean."""\n    ...',
      symbol: 'distance',
    },
  ],
  tokens: { context: 51, budget: 941, prompt: 132 },
  reason: null,
  prompt: '<|file_sep|>geometry.py\ndef distance(a, b):\n<|file_sep|>main.py\n<|fim_prefix|>x<|fim_suffix|><|fim_middle|>',
  index: { state: 'ready', files: 4, semantic: 'local all-MiniLM-L6-v2' },
};

describe('formatContextReport', () => {
  it('lists each snippet with file, lines, score and tokens, then the prompt', () => {
    const report = formatContextReport(answer, 'main.py:5:21');
    expect(report).toContain('# ByteBuddy context: main.py:5:21');
    expect(report).toContain('format **qwen**');
    expect(report).toContain('context 51 of 941 tokens');
    expect(report).toContain('## 1. geometry.py:5-7 — definition `distance`');
    expect(report).toContain('score 1 · 51 tokens');
    expect(report).toContain('index: ready, 4 files, semantic: local all-MiniLM-L6-v2');
    expect(report).toContain('## The prompt sent\n\n```\n<|file_sep|>geometry.py');
  });

  it('says why when there is nothing', () => {
    const report = formatContextReport(
      { role: 'chat', snippets: [], reason: 'index not built yet (building, 12 files seen)', query: 'q' },
      'a.py:1:1',
    );
    expect(report).toContain('**No context from other files:** index not built yet (building, 12 files seen)');
    expect(report).toContain('query: q');
  });

  it('fences code that itself contains a fence', () => {
    const report = formatContextReport(
      { ...answer, snippets: [{ ...answer.snippets[0], text: 'x = """\n```\n"""' }], prompt: undefined },
      'a.py:1:1',
    );
    expect(report).toContain('````\nx = """\n```\n"""\n````');
  });
});

describe('showContext', () => {
  let deps: CommandDeps;
  let request: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    request = vi.fn(async () => answer);
    deps = {
      extensionUri: vscode.Uri.file('/ext'),
      server: {
        request,
        executeCommand: vi.fn(),
        onProgress: vi.fn(),
        toProtocolUri: (uri: vscode.Uri) => uri.toString(),
      } as unknown as CommandDeps['server'],
      output: { show: vi.fn() } as unknown as vscode.OutputChannel,
      restart: vi.fn(async () => undefined),
      lastEditor: () => undefined,
    };
    mocked.window.activeTextEditor = {
      selection: { active: new vscode.Position(4, 20) },
      document: { uri: vscode.Uri.file('/ws/main.py') },
    };
  });
  afterEach(() => {
    fakeCommands.registered.clear();
    mocked.window.activeTextEditor = undefined;
  });

  it('asks the server at the cursor and shows the answer beside the editor', async () => {
    const view = new ContextDocument();
    await showContext(deps, view);
    expect(request).toHaveBeenCalledWith('bytebuddy/context', {
      textDocument: { uri: 'file:///ws/main.py' },
      position: { line: 4, character: 20 },
      role: 'autocomplete',
    });
    expect(view.report).toContain('# ByteBuddy context: main.py:5:21');
    expect(mocked.window.showTextDocument).toHaveBeenCalledWith(
      expect.objectContaining({ uri: ContextDocument.uri }),
      expect.objectContaining({ viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }),
    );
  });

  it('a question asks for chat retrieval', async () => {
    await showContext(deps, new ContextDocument(), 'where is distance computed');
    expect(request).toHaveBeenCalledWith(
      'bytebuddy/context',
      expect.objectContaining({ role: 'chat', query: 'where is distance computed' }),
    );
  });

  it('the registered command serves the document through its content provider', async () => {
    registerCommands(deps);
    await fakeCommands.registered.get('bytebuddy.showContext')?.();
    const provider = contentProviders.get(CONTEXT_SCHEME);
    expect(provider?.provideTextDocumentContent(ContextDocument.uri as never)).toContain('geometry.py:5-7');
  });

  it('reports a failed request instead of throwing', async () => {
    request.mockRejectedValueOnce(new Error('unknown document'));
    const result = await showContext(deps, new ContextDocument());
    expect(result).toBeUndefined();
    expect(mocked.window.showErrorMessage).toHaveBeenCalledWith(expect.stringContaining('unknown document'));
  });
});

describe('summarizeChatContext', () => {
  it('names the files and lines @workspace/@file added, or why nothing', () => {
    expect(summarizeChatContext(undefined)).toBeUndefined();
    expect(
      summarizeChatContext({
        snippets: [
          { ...answer.snippets[0], kind: 'file', path: 'charts.py', text: undefined },
          { ...answer.snippets[0], kind: 'retrieved', text: undefined },
        ],
        reason: null,
      }),
    ).toBe('Context: charts.py, geometry.py:5-7');
    expect(summarizeChatContext({ snippets: [], reason: 'index not built yet (building, 3 files seen)' })).toBe(
      'No workspace context: index not built yet (building, 3 files seen)',
    );
  });
});
