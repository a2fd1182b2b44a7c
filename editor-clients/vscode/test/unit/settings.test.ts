import * as path from 'path';
import { describe, expect, it } from 'vitest';
import {
  ByteBuddySettings,
  buildInitializationOptions,
  needsRestart,
  readSettings,
  resolveUserPath,
  serverSettingsSection,
} from '../../src/settings';

function reader(values: Record<string, unknown>) {
  return { get: <T>(key: string) => values[key] as T | undefined };
}

const defaults = readSettings(reader({}));

describe('readSettings', () => {
  it('uses the documented defaults when nothing is set', () => {
    expect(defaults).toEqual({
      serverPath: '',
      pythonPath: 'python3',
      configPath: '',
      config: null,
      autocompleteEnabled: true,
      debounceMs: 75,
      completionFallback: false,
      logLevel: 'info',
      contextEnabled: null,
      contextIndex: null,
    });
  });

  it('reads the context switches, leaving unset ones to the server config', () => {
    const settings = readSettings(reader({ 'context.index': false, 'context.enabled': 'yes' }));
    expect(settings.contextIndex).toBe(false);
    expect(settings.contextEnabled).toBeNull();
    expect(serverSettingsSection(settings, '/ws').context).toEqual({ enabled: null, index: false });
  });

  it('reads every setting', () => {
    const settings = readSettings(
      reader({
        serverPath: ' /opt/bb/bytebuddy-ls ',
        pythonPath: '/usr/bin/python3.12',
        configPath: '~/cfg.yaml',
        config: { models: [] },
        'autocomplete.enabled': false,
        'autocomplete.debounceMs': 300,
        completionFallback: true,
        logLevel: 'debug',
      }),
    );
    expect(settings).toMatchObject({
      serverPath: '/opt/bb/bytebuddy-ls',
      pythonPath: '/usr/bin/python3.12',
      configPath: '~/cfg.yaml',
      config: { models: [] },
      autocompleteEnabled: false,
      debounceMs: 300,
      completionFallback: true,
      logLevel: 'debug',
    });
  });

  it('falls back to defaults for mistyped values instead of passing them on', () => {
    const settings = readSettings(
      reader({ 'autocomplete.enabled': 'yes', 'autocomplete.debounceMs': -5, logLevel: 'loud', config: {}, pythonPath: '' }),
    );
    expect(settings.autocompleteEnabled).toBe(true);
    expect(settings.debounceMs).toBe(0);
    expect(settings.logLevel).toBe('info');
    expect(settings.config).toBeNull();
    expect(settings.pythonPath).toBe('python3');
  });
});

describe('resolveUserPath', () => {
  it('expands ~ and ${workspaceFolder} and anchors relative paths at the workspace', () => {
    expect(resolveUserPath('~/x/config.yaml', '/ws', '/home/me')).toBe('/home/me/x/config.yaml');
    expect(resolveUserPath('${workspaceFolder}/.bb/c.yaml', '/ws', '/home/me')).toBe('/ws/.bb/c.yaml');
    expect(resolveUserPath('conf/c.yaml', '/ws', '/home/me')).toBe(path.normalize('/ws/conf/c.yaml'));
    expect(resolveUserPath('/abs/c.yaml', '/ws', '/home/me')).toBe('/abs/c.yaml');
    expect(resolveUserPath('', '/ws')).toBe('');
  });
});

describe('what the server receives', () => {
  const withPath: ByteBuddySettings = { ...defaults, configPath: 'cfg.yaml', autocompleteEnabled: false, completionFallback: true };

  it('sends the resolved config path and the settings section at initialization', () => {
    expect(buildInitializationOptions(withPath, '/ws')).toEqual({
      configPath: '/ws/cfg.yaml',
      settings: {
        configPath: '/ws/cfg.yaml',
        config: null,
        autocomplete: { enabled: false, debounceMs: 75 },
        completionFallback: true,
        logLevel: 'info',
        context: { enabled: null, index: null },
      },
    });
  });

  it('prefers an inline config over a path', () => {
    const options = buildInitializationOptions({ ...withPath, config: { models: [{ name: 'x' }] } }, '/ws');
    expect(options.config).toEqual({ models: [{ name: 'x' }] });
    expect(options.configPath).toBeUndefined();
  });

  it('leaves the config source to the server when nothing is set', () => {
    expect(buildInitializationOptions(defaults, '/ws')).toEqual({ settings: serverSettingsSection(defaults, '/ws') });
    expect(serverSettingsSection(defaults, '/ws').configPath).toBeNull();
  });

  it('restarts only for settings that change the server command', () => {
    expect(needsRestart(defaults, { ...defaults, configPath: '/x' })).toBe(false);
    expect(needsRestart(defaults, { ...defaults, autocompleteEnabled: false })).toBe(false);
    expect(needsRestart(defaults, { ...defaults, serverPath: '/x' })).toBe(true);
    expect(needsRestart(defaults, { ...defaults, pythonPath: '/x' })).toBe(true);
  });
});
