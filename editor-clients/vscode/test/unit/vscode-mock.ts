// A minimal in-memory stand-in for the `vscode` module, covering what the extension uses.
import { vi } from 'vitest';

export class Position {
  constructor(
    public readonly line: number,
    public readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(start: Position, end: Position);
  constructor(startLine: number, startCharacter: number, endLine: number, endCharacter: number);
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c as number, d as number);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {
  get active(): Position {
    return this.end;
  }
  get anchor(): Position {
    return this.start;
  }
}

export class Uri {
  private constructor(
    public readonly scheme: string,
    public readonly path: string,
  ) {}
  static file(fsPath: string): Uri {
    return new Uri('file', fsPath);
  }
  static from(parts: { scheme: string; path: string }): Uri {
    return new Uri(parts.scheme, parts.path);
  }
  static joinPath(base: Uri, ...segments: string[]): Uri {
    return new Uri(base.scheme, [base.path, ...segments].join('/'));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

export class ThemeColor {
  constructor(public readonly id: string) {}
}

export class Disposable {
  constructor(private readonly callOnDispose: () => void = () => undefined) {}
  dispose(): void {
    this.callOnDispose();
  }
}

type Listener<T> = (value: T) => void;
export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
  };
  fire(value: T): void {
    this.listeners.forEach((l) => l(value));
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}
export enum InlineCompletionTriggerKind {
  Invoke = 0,
  Automatic = 1,
}

export interface FakeStatusBarItem {
  id: string;
  text: string;
  tooltip: unknown;
  command: unknown;
  name?: string;
  backgroundColor?: ThemeColor;
  accessibilityInformation?: { label: string; role?: string };
  show: ReturnType<typeof vi.fn>;
  dispose: ReturnType<typeof vi.fn>;
}

export interface FakeWebviewPanel {
  webview: {
    html: string;
    cspSource: string;
    posted: unknown[];
    postMessage: ReturnType<typeof vi.fn>;
    asWebviewUri: (uri: Uri) => Uri;
    onDidReceiveMessage: (listener: (message: unknown) => void, thisArg?: unknown, disposables?: Disposable[]) => Disposable;
    receive: (message: unknown) => Promise<void>;
  };
  reveal: ReturnType<typeof vi.fn>;
  onDidDispose: (listener: () => void, thisArg?: unknown, disposables?: Disposable[]) => Disposable;
  dispose: () => void;
}

function createWebviewPanel(): FakeWebviewPanel {
  const received = new EventEmitter<unknown>();
  const disposed = new EventEmitter<void>();
  const listeners: Array<(message: unknown) => unknown> = [];
  const posted: unknown[] = [];
  let isDisposed = false;
  const panel: FakeWebviewPanel = {
    webview: {
      html: '',
      cspSource: 'vscode-resource:',
      posted,
      postMessage: vi.fn(async (message: unknown) => {
        posted.push(message);
        return true;
      }),
      asWebviewUri: (uri: Uri) => uri,
      onDidReceiveMessage: (listener) => {
        listeners.push(listener);
        return received.event(listener);
      },
      // Delivers a message from the webview and waits for the handler to finish.
      receive: async (message: unknown) => {
        await Promise.all(listeners.map((l) => l(message)));
      },
    },
    reveal: vi.fn(),
    onDidDispose: (listener) => disposed.event(listener),
    // Like VS Code: the first dispose fires onDidDispose, later calls do nothing.
    dispose: () => {
      if (!isDisposed) {
        isDisposed = true;
        disposed.fire();
      }
    },
  };
  return panel;
}

/** Settings store behind workspace.getConfiguration (full keys such as `bytebuddy.logLevel`). */
export const configurationStore = new Map<string, unknown>();
/** Every `WorkspaceConfiguration.update` call: (full key, value, target). */
export const configurationUpdate = vi.fn(async (fullKey: string, value: unknown, _target?: ConfigurationTarget) => {
  configurationStore.set(fullKey, value);
});

export const window = {
  activeTextEditor: undefined as unknown,
  createStatusBarItem: vi.fn(
    (id: string): FakeStatusBarItem => ({ id, text: '', tooltip: undefined, command: undefined, show: vi.fn(), dispose: vi.fn() }),
  ),
  createOutputChannel: vi.fn(() => ({
    info: vi.fn(),
    warn: vi.fn(),
    error: vi.fn(),
    appendLine: vi.fn(),
    show: vi.fn(),
    dispose: vi.fn(),
  })),
  createWebviewPanel: vi.fn(createWebviewPanel),
  showErrorMessage: vi.fn(async (..._args: unknown[]): Promise<string | undefined> => undefined),
  showWarningMessage: vi.fn(async (..._args: unknown[]): Promise<string | undefined> => undefined),
  showInformationMessage: vi.fn(async (..._args: unknown[]): Promise<string | undefined> => undefined),
  showInputBox: vi.fn(async (..._args: unknown[]): Promise<string | undefined> => undefined),
  showQuickPick: vi.fn(async (..._args: unknown[]): Promise<unknown> => undefined),
  setStatusBarMessage: vi.fn(() => new Disposable()),
  showTextDocument: vi.fn(async (document: unknown, _options?: unknown) => ({ document })),
  withProgress: vi.fn(async (_options: unknown, task: (progress: unknown, token: unknown) => Promise<unknown>) =>
    task({ report: vi.fn() }, new CancellationTokenSource().token),
  ),
};

/** Content providers registered by scheme, and the documents opened through them. */
export const contentProviders = new Map<string, { provideTextDocumentContent(uri: Uri): string }>();

export const workspace = {
  workspaceFolders: undefined as unknown,
  asRelativePath: vi.fn((uri: Uri) => uri.path.replace(/^\/ws\//, '')),
  registerTextDocumentContentProvider: vi.fn(
    (scheme: string, provider: { provideTextDocumentContent(uri: Uri): string }) => {
      contentProviders.set(scheme, provider);
      return new Disposable(() => contentProviders.delete(scheme));
    },
  ),
  openTextDocument: vi.fn(async (uri: Uri) => ({
    uri,
    getText: () => contentProviders.get(uri.scheme)?.provideTextDocumentContent(uri) ?? '',
  })),
  getConfiguration: vi.fn((section?: string) => {
    const prefix = section ? `${section}.` : '';
    return {
      get: <T>(key: string, fallback?: T): T | undefined =>
        configurationStore.has(prefix + key) ? (configurationStore.get(prefix + key) as T) : fallback,
      inspect: (key: string) => ({ key: prefix + key, globalValue: configurationStore.get(prefix + key) }),
      update: (key: string, value: unknown, target?: ConfigurationTarget) => configurationUpdate(prefix + key, value, target),
    };
  }),
};

const registered = new Map<string, (...args: unknown[]) => unknown>();
export const commands = {
  registered,
  registerCommand: vi.fn((id: string, handler: (...args: unknown[]) => unknown) => {
    if (registered.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    registered.set(id, handler);
    return new Disposable(() => registered.delete(id));
  }),
  executeCommand: vi.fn(async (..._args: unknown[]): Promise<unknown> => undefined),
};
