import { beforeEach, describe, expect, it } from 'vitest';
import * as vscode from 'vscode';
import { StatusBar } from '../../src/statusBar';
import type { StatusParams } from '../../src/protocol';
import { presentStatus, STATUS_COMMANDS, type StatusPresentation } from '../../src/statusView';
import type { FakeStatusBarItem } from './vscode-mock';

/** What the status item shows for the server's `bytebuddy/status`, connected, autocomplete on. */
const shown = (server: StatusParams): StatusPresentation => presentStatus({ connection: 'running', server, autocompleteEnabled: true });

const lastItem = (): FakeStatusBarItem =>
  (vscode.window.createStatusBarItem as unknown as { mock: { results: Array<{ value: FakeStatusBarItem }> } }).mock.results.at(-1)!.value;

describe('presentStatus', () => {
  it('spins while the server starts and while a request is in flight', () => {
    expect(presentStatus({ connection: 'starting', autocompleteEnabled: true }).text).toContain('~spin');
    const busy = shown({ state: 'busy', message: 'completing' });
    expect(busy.state).toBe('busy');
    expect(busy.text).toContain('~spin');
  });

  it('names the loading model', () => {
    const view = shown({ state: 'loading', message: 'Model is loading (about 20 s)', model: 'bigcode/starcoder2-3b', role: 'autocomplete' });
    expect(view.text).toContain('loading starcoder2-3b');
    expect(view.tooltip).toContain('about 20 s');
    expect(view.background).toBe('warning');
    expect(view.accessibilityLabel).toMatch(/^ByteBuddy loading/);
  });

  it('shows errors in red and clicks through to the log', () => {
    const view = shown({ state: 'error', message: 'HTTP 401' });
    expect(view.background).toBe('error');
    expect(view.command).toBe(STATUS_COMMANDS.showLog);
    expect(view.tooltip).toContain('HTTP 401');
    expect(presentStatus({ connection: 'failed', autocompleteEnabled: true }).command).toBe(STATUS_COMMANDS.showLog);
  });

  it('toggles autocomplete from the ready and disabled states', () => {
    const ready = shown({ state: 'ready', message: '' });
    expect(ready.command).toBe(STATUS_COMMANDS.toggleAutocomplete);
    const off = presentStatus({ connection: 'running', server: { state: 'ready', message: '' }, autocompleteEnabled: false });
    expect(off.state).toBe('disabled');
    expect(off.command).toBe(STATUS_COMMANDS.toggleAutocomplete);
  });

  it('shows a paused endpoint and resumes it on click', () => {
    const view = shown({ state: 'error', message: 'Endpoint my-coder is paused', model: 'fim', role: 'autocomplete', endpoint: { name: 'my-coder', state: 'paused' } });
    expect(view.state).toBe('paused');
    expect(view.text).toBe('$(debug-pause) ByteBuddy: my-coder paused');
    expect(view.command).toBe(STATUS_COMMANDS.resumeEndpoint);
    expect(view.tooltip).toContain('it bills while running');
    expect(view.accessibilityLabel).toMatch(/^ByteBuddy paused: Inference Endpoint my-coder is paused/);
  });

  it('shows a starting endpoint as loading and a failed one as an error', () => {
    const starting = shown({ state: 'ready', message: '', model: 'fim', endpoint: { name: 'my-coder', state: 'initializing' } });
    expect(starting.state).toBe('loading');
    expect(starting.text).toContain('my-coder starting');
    const failed = shown({ state: 'error', message: 'x', model: 'fim', endpoint: { name: 'my-coder', state: 'failed', message: 'out of memory' } });
    expect(failed.background).toBe('error');
    expect(failed.tooltip).toContain('out of memory');
  });

  it('mentions a usable endpoint in the ready tooltip', () => {
    const zero = shown({ state: 'ready', message: 'autocomplete: fim', model: 'fim', endpoint: { name: 'my-coder', state: 'scaledToZero' } });
    expect(zero.state).toBe('ready');
    expect(zero.tooltip).toContain('my-coder is scaled to zero: the next request wakes it');
    const running = shown({ state: 'ready', message: '', model: 'fim', endpoint: { name: 'my-coder', state: 'running', idlePauseMinutes: 30 } });
    expect(running.tooltip).toContain('Inference Endpoint my-coder: running, pauses after 30 idle min');
  });

  it('sends an unconfigured user to the settings', () => {
    const view = shown({ state: 'unconfigured', message: 'no config' });
    expect(view.command).toBe(STATUS_COMMANDS.openSettings);
    expect(view.text).toContain('not configured');
  });
});

describe('StatusBar', () => {
  let bar: StatusBar;
  beforeEach(() => {
    bar = new StatusBar(true);
  });

  it('shows the item at once, starting', () => {
    const item = lastItem();
    expect(item.show).toHaveBeenCalled();
    expect(item.text).toContain('~spin');
    expect(bar.shownState).toBe('starting');
  });

  it('follows bytebuddy/status notifications', () => {
    const item = lastItem();
    bar.setConnection('running');
    bar.setServerStatus({ state: 'loading', message: 'warming up', model: 'org/m' });
    expect(item.text).toContain('loading m');
    expect((item.backgroundColor as unknown as { id: string }).id).toBe('statusBarItem.warningBackground');
    expect(item.accessibilityInformation?.label).toContain('loading');
    bar.setServerStatus({ state: 'ready', message: 'ok' });
    expect(item.backgroundColor).toBeUndefined();
    expect(bar.shownState).toBe('ready');
  });

  it('forgets the old server status when the server restarts', () => {
    bar.setConnection('running');
    bar.setServerStatus({ state: 'error', message: 'bad token' });
    bar.setConnection('starting');
    bar.setConnection('running');
    expect(bar.shownState).toBe('ready');
  });

  it('reflects the autocomplete setting without waiting for the server', () => {
    bar.setConnection('running');
    bar.setServerStatus({ state: 'ready', message: '' });
    bar.setAutocompleteEnabled(false);
    expect(bar.shownState).toBe('disabled');
    expect(lastItem().command).toBe(STATUS_COMMANDS.toggleAutocomplete);
  });
});
