import { readFileSync } from 'fs';
import * as path from 'path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as vscode from 'vscode';
import {
  CommandDeps,
  Commands,
  editSelection,
  endpointAction,
  registerCommands,
  selectModelForRole,
  toggleAutocomplete,
} from '../../src/commands';
import type { ModelInfo } from '../../src/protocol';
import { STATUS_COMMANDS } from '../../src/statusView';
import { configurationStore, configurationUpdate, commands as fakeCommands } from './vscode-mock';

const mocked = vscode as unknown as typeof import('./vscode-mock');

function fakeServer() {
  return {
    request: vi.fn(async (..._args: unknown[]): Promise<any> => null),
    executeCommand: vi.fn(async (..._args: unknown[]): Promise<unknown> => null),
    onProgress: vi.fn(() => new vscode.Disposable(() => undefined)),
    toProtocolUri: (uri: vscode.Uri) => uri.toString(),
  };
}

function editor(selection: vscode.Selection, lineLength = 20) {
  return {
    selection,
    document: {
      uri: vscode.Uri.file('/ws/main.py'),
      lineAt: (line: number) => ({ range: new vscode.Range(line, 0, line, lineLength) }),
    },
  } as unknown as vscode.TextEditor;
}

let server: ReturnType<typeof fakeServer>;
let deps: CommandDeps;
let output: { show: ReturnType<typeof vi.fn> };

beforeEach(() => {
  server = fakeServer();
  output = { show: vi.fn() };
  deps = {
    extensionUri: vscode.Uri.file('/ext'),
    server,
    output: output as unknown as vscode.OutputChannel,
    restart: vi.fn(async () => undefined),
    lastEditor: () => undefined,
  };
  configurationStore.clear();
  mocked.window.activeTextEditor = undefined;
});
afterEach(() => fakeCommands.registered.clear());

describe('command wiring', () => {
  it('registers every command the manifest contributes and every status bar click target', () => {
    registerCommands(deps);
    const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const contributed: string[] = manifest.contributes.commands.map((c: { command: string }) => c.command);
    for (const id of [...contributed, ...Object.values(STATUS_COMMANDS)]) {
      expect(fakeCommands.registered.has(id), id).toBe(true);
    }
    // Server commands are registered by the language client; clashing ids would throw.
    for (const id of fakeCommands.registered.keys()) {
      expect([
        'bytebuddy.edit',
        'bytebuddy.apply',
        'bytebuddy.toggleAutocomplete',
        'bytebuddy.selectModel',
        'bytebuddy.resumeEndpoint',
        'bytebuddy.pauseEndpoint',
        'bytebuddy.refreshEndpoints',
      ]).not.toContain(id);
    }
  });

  it('Show log opens the output channel and Restart restarts the server', async () => {
    registerCommands(deps);
    await fakeCommands.registered.get(Commands.showLog)!();
    expect(output.show).toHaveBeenCalled();
    await fakeCommands.registered.get(Commands.restartServer)!();
    expect(deps.restart).toHaveBeenCalled();
  });
});

describe('Edit selection', () => {
  it('sends bytebuddy.edit with the selection and the typed instruction', async () => {
    mocked.window.activeTextEditor = editor(new vscode.Selection(new vscode.Position(1, 4), new vscode.Position(3, 0)));
    mocked.window.showInputBox.mockResolvedValueOnce('  add type hints ');
    await editSelection(deps);
    expect(server.executeCommand).toHaveBeenCalledWith(
      'bytebuddy.edit',
      { uri: 'file:///ws/main.py', range: { start: { line: 1, character: 4 }, end: { line: 3, character: 0 } }, instruction: 'add type hints' },
      expect.anything(),
    );
  });

  it('edits the cursor line when nothing is selected', async () => {
    mocked.window.activeTextEditor = editor(new vscode.Selection(new vscode.Position(2, 5), new vscode.Position(2, 5)), 12);
    mocked.window.showInputBox.mockResolvedValueOnce('rename x');
    await editSelection(deps);
    expect(server.executeCommand.mock.calls[0][1]).toMatchObject({ range: { start: { line: 2, character: 0 }, end: { line: 2, character: 12 } } });
  });

  it('does nothing when the input box is dismissed', async () => {
    mocked.window.activeTextEditor = editor(new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(1, 0)));
    mocked.window.showInputBox.mockResolvedValueOnce(undefined);
    await editSelection(deps);
    expect(server.executeCommand).not.toHaveBeenCalled();
  });

  it('reports a failed edit', async () => {
    mocked.window.activeTextEditor = editor(new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(1, 0)));
    mocked.window.showInputBox.mockResolvedValueOnce('x');
    server.executeCommand.mockRejectedValueOnce(new Error('model timed out'));
    await editSelection(deps);
    expect(mocked.window.showErrorMessage).toHaveBeenCalledWith(expect.stringContaining('model timed out'));
  });
});

describe('Select model for a role', () => {
  const models: ModelInfo[] = [
    { name: 'fim', model: 'bigcode/starcoder2-3b', provider: 'huggingface-tgi', roles: ['autocomplete'], active: true },
    { name: 'chat', model: 'test-chat', provider: 'openai', roles: ['chat', 'edit', 'apply'], active: ['chat', 'edit', 'apply'] },
    { name: 'chat-big', model: 'big', provider: 'openai', roles: ['chat'], active: false },
  ];

  it('lists roles with their current model, then the models for the role, and sends bytebuddy.selectModel', async () => {
    server.request.mockResolvedValueOnce(models);
    mocked.window.showQuickPick.mockImplementationOnce(async (items: unknown) => (items as Array<{ role: string }>).find((i) => i.role === 'chat'));
    mocked.window.showQuickPick.mockImplementationOnce(async (items: unknown) => (items as Array<{ name: string }>).find((i) => i.name === 'chat-big'));
    await selectModelForRole(deps);
    expect(server.request).toHaveBeenCalledWith('bytebuddy/models', undefined);
    const rolePicks = mocked.window.showQuickPick.mock.calls[0][0] as Array<{ role: string; description: string }>;
    expect(rolePicks.find((p) => p.role === 'chat')?.description).toContain('chat (test-chat)');
    const modelPicks = mocked.window.showQuickPick.mock.calls[1][0] as Array<{ name: string }>;
    expect(modelPicks.map((p) => p.name)).toEqual(['chat', 'chat-big']);
    expect(server.executeCommand).toHaveBeenCalledWith('bytebuddy.selectModel', { role: 'chat', name: 'chat-big' });
  });

  it('sends nothing when the pick is dismissed', async () => {
    server.request.mockResolvedValueOnce(models);
    mocked.window.showQuickPick.mockResolvedValueOnce(undefined);
    await selectModelForRole(deps);
    expect(server.executeCommand).not.toHaveBeenCalled();
  });
});

describe('Toggle autocomplete', () => {
  it('flips the user setting when it is not set per workspace', async () => {
    expect(await toggleAutocomplete()).toBe(false);
    expect(configurationUpdate).toHaveBeenLastCalledWith('bytebuddy.autocomplete.enabled', false, vscode.ConfigurationTarget.Global);
    expect(await toggleAutocomplete()).toBe(true);
    expect(configurationStore.get('bytebuddy.autocomplete.enabled')).toBe(true);
  });
});

describe('Inference Endpoint commands', () => {
  const withEndpoints: ModelInfo[] = [
    { name: 'fim', model: 'm', provider: 'huggingfaceinferenceapi', roles: ['autocomplete'], active: true, endpoint: { name: 'my-coder', state: 'paused' } },
    { name: 'chat', model: 'c', provider: 'openai', roles: ['chat'], active: true },
    { name: 'big', model: 'b', provider: 'huggingfaceinferenceapi', roles: ['chat'], active: false, endpoint: { name: 'big-one', state: 'running' } },
  ];

  it('resumes the one endpoint that is not running, through the server command', async () => {
    server.request.mockResolvedValueOnce(withEndpoints);
    server.executeCommand.mockResolvedValueOnce({ ok: true, endpoint: { name: 'my-coder', state: 'running' } });
    expect(await endpointAction(deps, 'resume')).toBe(true);
    expect(mocked.window.showQuickPick).not.toHaveBeenCalled();
    expect(server.executeCommand).toHaveBeenCalledWith('bytebuddy.resumeEndpoint', { model: 'fim' });
    expect(mocked.window.setStatusBarMessage).toHaveBeenCalledWith('ByteBuddy: endpoint my-coder is running', 4000);
  });

  it('pauses the running one; the status bar click resumes without asking which', async () => {
    server.request.mockResolvedValueOnce(withEndpoints);
    server.executeCommand.mockResolvedValueOnce({ ok: true, endpoint: { name: 'big-one', state: 'paused' } });
    expect(await endpointAction(deps, 'pause')).toBe(true);
    expect(server.executeCommand).toHaveBeenCalledWith('bytebuddy.pauseEndpoint', { model: 'big' });
    registerCommands(deps);
    server.executeCommand.mockResolvedValueOnce({ ok: true });
    await fakeCommands.registered.get(STATUS_COMMANDS.resumeEndpoint)!('fim');
    expect(server.executeCommand).toHaveBeenLastCalledWith('bytebuddy.resumeEndpoint', { model: 'fim' });
  });

  it('reports a failed resume and a config without endpoints', async () => {
    server.executeCommand.mockResolvedValueOnce({ ok: false, error: "Model 'fim': endpoint 'x' not found" });
    expect(await endpointAction(deps, 'resume', 'fim')).toBe(false);
    expect(mocked.window.showErrorMessage).toHaveBeenCalledWith(expect.stringContaining("endpoint 'x' not found"));
    server.request.mockResolvedValueOnce([withEndpoints[1]]);
    expect(await endpointAction(deps, 'resume')).toBe(false);
    expect(mocked.window.showWarningMessage).toHaveBeenCalledWith(expect.stringContaining('no model in the config has an `endpoint`'));
  });
});
