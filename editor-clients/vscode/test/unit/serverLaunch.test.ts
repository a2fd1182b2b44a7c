import { describe, expect, it } from 'vitest';
import { readSettings } from '../../src/settings';
import { LaunchEnvironment, explainFailure, isLaunchProblem, resolveServerLaunch } from '../../src/serverLaunch';

const settings = (values: Record<string, unknown> = {}) => readSettings({ get: <T>(key: string) => values[key] as T | undefined });

function machine(onPath: Record<string, string>, files: string[] = []): LaunchEnvironment {
  return { findOnPath: (name) => onPath[name], isFile: (file) => files.includes(file) };
}

describe('resolveServerLaunch', () => {
  it('uses bytebuddy.serverPath first, resolved against the workspace', () => {
    const launch = resolveServerLaunch(
      settings({ serverPath: '.venv/bin/bytebuddy-ls', logLevel: 'debug' }),
      machine({ 'bytebuddy-ls': '/usr/bin/bytebuddy-ls' }, ['/ws/.venv/bin/bytebuddy-ls']),
      '/ws',
    );
    expect(launch).toEqual({
      command: '/ws/.venv/bin/bytebuddy-ls',
      args: ['serve', '--stdio', '--log-level', 'debug'],
      source: 'serverPath',
    });
  });

  it('reports a serverPath that does not exist, with the fix, instead of trying PATH', () => {
    const launch = resolveServerLaunch(settings({ serverPath: '/nope/bytebuddy-ls' }), machine({ 'bytebuddy-ls': '/usr/bin/bytebuddy-ls' }), '/ws');
    expect(isLaunchProblem(launch)).toBe(true);
    if (isLaunchProblem(launch)) {
      expect(launch.problem).toContain('/nope/bytebuddy-ls');
      expect(launch.fix).toContain('bytebuddy.serverPath');
    }
  });

  it('then bytebuddy-ls on PATH', () => {
    const launch = resolveServerLaunch(settings(), machine({ 'bytebuddy-ls': '/home/u/.local/bin/bytebuddy-ls' }), undefined);
    expect(launch).toMatchObject({ command: '/home/u/.local/bin/bytebuddy-ls', source: 'path' });
  });

  it('then python -m bytebuddy_ls with bytebuddy.pythonPath', () => {
    expect(resolveServerLaunch(settings({ pythonPath: '~/venv/bin/python' }), machine({}), '/ws')).toMatchObject({
      command: expect.stringMatching(/\/venv\/bin\/python$/),
      args: ['-m', 'bytebuddy_ls', 'serve', '--stdio', '--log-level', 'info'],
      source: 'python',
    });
    expect(resolveServerLaunch(settings(), machine({}), '/ws')).toMatchObject({ command: 'python3', source: 'python' });
  });
});

describe('explainFailure', () => {
  const python = { command: 'python3', args: ['-m', 'bytebuddy_ls'], source: 'python' as const };
  const direct = { command: '/x/bytebuddy-ls', args: ['serve'], source: 'serverPath' as const };

  it('says how to install the server when nothing could be spawned', () => {
    const explained = explainFailure({ launch: python, error: 'Launching server using command python3 failed. Error: spawn python3 ENOENT', stderrTail: [], crashedWhileRunning: false });
    expect(explained.problem).toContain('not on PATH');
    expect(explained.fix).toContain('pip install bytebuddy-ls');
    expect(explained.fix).toContain('bytebuddy.serverPath');
  });

  it('recognises a Python without the package', () => {
    const explained = explainFailure({
      launch: python,
      stderrTail: ['/usr/bin/python3: No module named bytebuddy_ls'],
      crashedWhileRunning: false,
    });
    expect(explained.problem).toContain('does not have');
    expect(explained.fix).toContain('python3 -m pip install bytebuddy-ls');
  });

  it('quotes the last stderr line of a server that died at start-up', () => {
    const explained = explainFailure({
      launch: direct,
      error: 'Pending response rejected since connection got disposed',
      stderrTail: ['Traceback (most recent call last):', 'RuntimeError: boom', ''],
      crashedWhileRunning: false,
    });
    expect(explained.problem).toContain('exited during startup');
    expect(explained.problem).toContain('RuntimeError: boom');
    expect(explained.fix).toContain('Restart server');
  });

  it('tells a crash after start apart from a start-up failure', () => {
    const explained = explainFailure({ launch: direct, stderrTail: ['Killed'], crashedWhileRunning: true });
    expect(explained.problem).toContain('stopped unexpectedly');
    expect(explained.problem).toContain('Killed');
  });
});
