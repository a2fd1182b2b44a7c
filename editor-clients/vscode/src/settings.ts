import * as os from 'os';
import * as path from 'path';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error'];

export const SECTION = 'bytebuddy';

export interface ByteBuddySettings {
  serverPath: string;
  pythonPath: string;
  configPath: string;
  config: Record<string, unknown> | null;
  autocompleteEnabled: boolean;
  debounceMs: number;
  completionFallback: boolean;
  logLevel: LogLevel;
  /** null: as the server's config says. */
  contextEnabled: boolean | null;
  contextIndex: boolean | null;
}

/** The subset of `vscode.WorkspaceConfiguration` used here (keeps this module host-free). */
export interface ConfigurationReader {
  get<T>(key: string): T | undefined;
}

function stringSetting(config: ConfigurationReader, key: string, fallback: string): string {
  const value = config.get<unknown>(key);
  return typeof value === 'string' ? value.trim() : fallback;
}

/** Reads the `bytebuddy` section, falling back to defaults on missing or mistyped values. */
export function readSettings(config: ConfigurationReader): ByteBuddySettings {
  const inline = config.get<unknown>('config');
  const debounce = config.get<unknown>('autocomplete.debounceMs');
  const logLevel = config.get<unknown>('logLevel');
  const enabled = config.get<unknown>('autocomplete.enabled');
  const fallback = config.get<unknown>('completionFallback');
  const contextEnabled = config.get<unknown>('context.enabled');
  const contextIndex = config.get<unknown>('context.index');
  return {
    serverPath: stringSetting(config, 'serverPath', ''),
    pythonPath: stringSetting(config, 'pythonPath', '') || 'python3',
    configPath: stringSetting(config, 'configPath', ''),
    config:
      inline !== null && typeof inline === 'object' && !Array.isArray(inline) && Object.keys(inline).length > 0
        ? (inline as Record<string, unknown>)
        : null,
    autocompleteEnabled: typeof enabled === 'boolean' ? enabled : true,
    debounceMs:
      typeof debounce === 'number' && Number.isFinite(debounce) ? Math.min(Math.max(0, Math.round(debounce)), 2000) : 75,
    completionFallback: typeof fallback === 'boolean' ? fallback : false,
    logLevel: LOG_LEVELS.includes(logLevel as LogLevel) ? (logLevel as LogLevel) : 'info',
    contextEnabled: typeof contextEnabled === 'boolean' ? contextEnabled : null,
    contextIndex: typeof contextIndex === 'boolean' ? contextIndex : null,
  };
}

/**
 * Expands `~` and `${workspaceFolder}` and makes a relative path absolute against the
 * workspace folder, because the server runs with its own working directory.
 */
export function resolveUserPath(value: string, workspaceFolder: string | undefined, home: string = os.homedir()): string {
  if (value === '') {
    return value;
  }
  let expanded = value.replace(/\$\{workspaceFolder\}/g, workspaceFolder ?? '');
  if (expanded === '~' || expanded.startsWith('~/')) {
    expanded = path.join(home, expanded.slice(1));
  }
  if (!path.isAbsolute(expanded) && workspaceFolder !== undefined) {
    expanded = path.join(workspaceFolder, expanded);
  }
  return path.normalize(expanded);
}

export interface InitializationOptions {
  config?: Record<string, unknown>;
  configPath?: string;
  settings: ServerSettingsSection;
}

/** Inline config wins over a path, as in the server's source order. */
export function buildInitializationOptions(settings: ByteBuddySettings, workspaceFolder: string | undefined): InitializationOptions {
  const section = serverSettingsSection(settings, workspaceFolder);
  if (settings.config !== null) {
    return { config: settings.config, settings: section };
  }
  if (section.configPath !== null) {
    return { configPath: section.configPath, settings: section };
  }
  return { settings: section };
}

/**
 * The `bytebuddy` section as the server reads it (initializationOptions.settings and
 * workspace/didChangeConfiguration), with paths resolved on the client side.
 */
export interface ServerSettingsSection {
  configPath: string | null;
  config: Record<string, unknown> | null;
  autocomplete: { enabled: boolean; debounceMs: number };
  completionFallback: boolean;
  logLevel: LogLevel;
  context: { enabled: boolean | null; index: boolean | null };
}

export function serverSettingsSection(settings: ByteBuddySettings, workspaceFolder: string | undefined): ServerSettingsSection {
  return {
    configPath: settings.configPath === '' ? null : resolveUserPath(settings.configPath, workspaceFolder),
    config: settings.config,
    autocomplete: { enabled: settings.autocompleteEnabled, debounceMs: settings.debounceMs },
    completionFallback: settings.completionFallback,
    logLevel: settings.logLevel,
    context: { enabled: settings.contextEnabled, index: settings.contextIndex },
  };
}

/** Settings that only take effect in a new server process. */
export function needsRestart(before: ByteBuddySettings, after: ByteBuddySettings): boolean {
  return before.serverPath !== after.serverPath || before.pythonPath !== after.pythonPath;
}
