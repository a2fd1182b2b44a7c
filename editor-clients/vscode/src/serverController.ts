import * as readline from 'readline';
import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ErrorHandler,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ProgressType,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { FailureNotifier } from './failureNotifier';
import { createMiddleware } from './middleware';
import { Methods, StatusParams, UsageParams, UsageReport } from './protocol';
import {
  ByteBuddySettings,
  SECTION,
  buildInitializationOptions,
  serverSettingsSection,
} from './settings';
import {
  LaunchProblem,
  ServerLaunch,
  describeLaunch,
  explainFailure,
  isLaunchProblem,
  nodeLaunchEnvironment,
  resolveServerLaunch,
} from './serverLaunch';
import { StatusBar } from './statusBar';

/** What commands and the chat panel need from the server. */
export interface ServerApi {
  request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R>;
  executeCommand(command: string, argument: unknown, token?: vscode.CancellationToken): Promise<unknown>;
  onProgress<P>(token: string, handler: (value: P) => void): vscode.Disposable;
  toProtocolUri(uri: vscode.Uri): string;
}

export class ServerNotRunningError extends Error {
  constructor() {
    super('The ByteBuddy language server is not running. See "ByteBuddy: Show log", then run "ByteBuddy: Restart server".');
  }
}

/**
 * A LanguageClient whose connection failures are explained by the extension (one
 * notification with the fix) instead of the generic "couldn't create connection" popups.
 */
class ByteBuddyLanguageClient extends LanguageClient {
  public override error(message: string, data?: unknown, showNotification: boolean | 'force' = true): void {
    super.error(message, data, showNotification === 'force' ? false : showNotification);
  }
}

const STDERR_TAIL_LINES = 20;
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 3 * 60 * 1000;
/** Lets the server's last stderr lines arrive before the failure is explained. */
const FAILURE_REPORT_DELAY_MS = 400;
/** Today's spend in the status tooltip is asked for this long after a request settles. */
const USAGE_REFRESH_DELAY_MS = 1000;
const METHOD_NOT_FOUND = -32601;

export class ServerController implements ServerApi, vscode.Disposable {
  private client: ByteBuddyLanguageClient | undefined;
  private launch: ServerLaunch | undefined;
  private stderrTail: string[] = [];
  private lastStartError: string | undefined;
  private wasRunning = false;
  private intentionalStop = false;
  private autoRestarting = false;
  private crashTimes: number[] = [];
  private failureTimer: NodeJS.Timeout | undefined;
  private usageTimer: NodeJS.Timeout | undefined;
  private usageSupported = true;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly statusBar: StatusBar,
    private readonly notifier: FailureNotifier,
    private readonly getSettings: () => ByteBuddySettings,
  ) {}

  get isRunning(): boolean {
    return this.client?.state === State.Running;
  }

  async start(): Promise<void> {
    const settings = this.getSettings();
    const workspaceFolder = firstWorkspaceFolder();
    const launch = resolveServerLaunch(settings, nodeLaunchEnvironment, workspaceFolder);
    if (isLaunchProblem(launch)) {
      this.fail(launch, true);
      return;
    }
    this.launch = launch;
    this.stderrTail = [];
    this.lastStartError = undefined;
    this.wasRunning = false;
    this.intentionalStop = false;
    this.statusBar.setConnection('starting');
    this.output.info(`Starting the server: ${describeLaunch(launch)} (from ${launch.source})`);

    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { env: process.env, cwd: workspaceFolder },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => buildInitializationOptions(this.getSettings(), firstWorkspaceFolder()),
      errorHandler: this.errorHandler(),
      middleware: createMiddleware(this.getSettings, () => serverSettingsSection(this.getSettings(), firstWorkspaceFolder())),
      stdioOptions: {
        stdout: (input, channel) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => channel.info(line));
        },
        stderr: (input, channel) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
            this.stderrTail.push(line);
            if (this.stderrTail.length > STDERR_TAIL_LINES) {
              this.stderrTail.shift();
            }
            // The server logs to stderr; info keeps its own level prefixes readable.
            channel.info(line);
          });
        },
      },
    };

    const client = new ByteBuddyLanguageClient('bytebuddy', 'ByteBuddy', serverOptions, clientOptions);
    this.client = client;
    client.onNotification(Methods.status, (params: StatusParams) => {
      this.output.debug(`status: ${JSON.stringify(params)}`);
      this.statusBar.setServerStatus(params);
      if (params.state === 'ready' || params.state === 'disabled') {
        this.scheduleUsageRefresh();
      }
    });
    client.onDidChangeState(({ newState }) => this.onStateChange(client, newState));
    try {
      await client.start();
    } catch (error) {
      this.lastStartError = errorText(error);
      this.output.error(`The server did not start: ${this.lastStartError}`);
      this.scheduleFailureReport(client);
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    this.intentionalStop = true;
    clearTimeout(this.failureTimer);
    try {
      if (client.needsStop()) {
        await client.stop(2000);
      }
    } catch (error) {
      this.output.warn(`Stopping the server: ${errorText(error)}`);
    }
    await client.dispose().catch(() => undefined);
  }

  async restart(): Promise<void> {
    this.notifier.rearm();
    this.crashTimes = [];
    await this.stop();
    await this.start();
  }

  /** Sends the `bytebuddy` settings section so changes apply without a restart. */
  async pushSettings(): Promise<void> {
    if (!this.isRunning || this.client === undefined) {
      return;
    }
    const section = serverSettingsSection(this.getSettings(), firstWorkspaceFolder());
    await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: section } });
  }

  request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R> {
    const client = this.runningClient();
    if (params === undefined) {
      return client.sendRequest<R>(method, token);
    }
    // An explicit `undefined` token would be sent as a second positional parameter.
    return token === undefined ? client.sendRequest<R>(method, params) : client.sendRequest<R>(method, params, token);
  }

  executeCommand(command: string, argument: unknown, token?: vscode.CancellationToken): Promise<unknown> {
    return this.runningClient().sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] }, token);
  }

  onProgress<P>(token: string, handler: (value: P) => void): vscode.Disposable {
    return this.runningClient().onProgress(new ProgressType<P>(), token, handler);
  }

  toProtocolUri(uri: vscode.Uri): string {
    return this.client?.code2ProtocolConverter.asUri(uri) ?? uri.toString();
  }

  /** Asks for today's totals soon (once for a burst of requests) for the status tooltip. */
  scheduleUsageRefresh(delayMs = USAGE_REFRESH_DELAY_MS): void {
    if (!this.usageSupported || this.usageTimer !== undefined) {
      return;
    }
    this.usageTimer = setTimeout(() => {
      this.usageTimer = undefined;
      void this.refreshUsage();
    }, delayMs);
  }

  private async refreshUsage(): Promise<void> {
    if (!this.isRunning) {
      return;
    }
    try {
      const params: UsageParams = { since: 'today', by: 'model' };
      const report = await this.request<UsageReport | null>(Methods.usage, params);
      this.statusBar.setUsageToday(report?.total);
    } catch (error) {
      if ((error as { code?: number }).code === METHOD_NOT_FOUND) {
        this.usageSupported = false; // an older server: stop asking
      } else {
        this.output.debug(`usage: ${errorText(error)}`);
      }
    }
  }

  dispose(): void {
    clearTimeout(this.failureTimer);
    clearTimeout(this.usageTimer);
    this.disposables.forEach((d) => d.dispose());
  }

  private runningClient(): ByteBuddyLanguageClient {
    if (this.client === undefined || !this.isRunning) {
      throw new ServerNotRunningError();
    }
    return this.client;
  }

  private onStateChange(client: ByteBuddyLanguageClient, state: State): void {
    if (client !== this.client) {
      return;
    }
    if (state === State.Starting) {
      this.statusBar.setConnection('starting');
    } else if (state === State.Running) {
      this.wasRunning = true;
      this.autoRestarting = false;
      this.statusBar.setConnection('running');
      void this.pushSettings();
      this.usageSupported = true;
      this.scheduleUsageRefresh();
    } else if (!this.intentionalStop && !this.autoRestarting) {
      this.scheduleFailureReport(client);
    } else if (this.intentionalStop) {
      this.statusBar.setConnection('stopped');
    }
  }

  private errorHandler(): ErrorHandler {
    return {
      error: (_error, _message, count) => ({
        action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
        handled: true,
      }),
      closed: () => {
        const now = Date.now();
        this.crashTimes = this.crashTimes.filter((time) => now - time < RESTART_WINDOW_MS);
        this.crashTimes.push(now);
        // A server that never finished starting would only fail again the same way.
        if (!this.wasRunning || this.crashTimes.length > MAX_RESTARTS) {
          return { action: CloseAction.DoNotRestart, handled: true };
        }
        this.output.warn(`The server stopped unexpectedly; restarting (${this.crashTimes.length}/${MAX_RESTARTS}).`);
        this.autoRestarting = true;
        return { action: CloseAction.Restart, handled: true };
      },
    };
  }

  private scheduleFailureReport(client: ByteBuddyLanguageClient): void {
    clearTimeout(this.failureTimer);
    this.statusBar.setConnection('failed');
    this.failureTimer = setTimeout(() => {
      if (client !== this.client || this.launch === undefined || this.isRunning) {
        return;
      }
      const explanation = explainFailure({
        launch: this.launch,
        error: this.lastStartError,
        stderrTail: this.stderrTail,
        crashedWhileRunning: this.wasRunning,
      });
      this.fail(explanation, /not found|does not exist|does not have/.test(explanation.problem));
    }, FAILURE_REPORT_DELAY_MS);
  }

  private fail(explanation: LaunchProblem, offerSettings: boolean): void {
    this.statusBar.setConnection('failed');
    this.output.error(`${explanation.problem} ${explanation.fix}`);
    void this.notifier.notify(explanation, offerSettings);
  }
}

export function firstWorkspaceFolder(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  return folder?.uri.fsPath;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return typeof error === 'string' ? error : JSON.stringify(error);
}
