import * as path from 'path';
import * as vscode from 'vscode';
import { summarizeChatContext } from './contextView';
import { ApplyArgs, ChatMessage, ChatParams, ChatProgress, ChatResult, LspRange, Methods, ServerCommands } from './protocol';
import type { ServerApi } from './serverController';
import type { FromWebview, ToWebview } from './webview/messages';

/** Where a question came from, so "Apply" edits that file (and range). */
export interface ChatContext {
  uri: vscode.Uri;
  range?: vscode.Range;
}

export function toLspRange(range: vscode.Range): LspRange {
  return {
    start: { line: range.start.line, character: range.start.character },
    end: { line: range.end.line, character: range.end.character },
  };
}

/** "main.py:3-7" for a selection, "main.py" for a whole file. */
export function contextLabel(context: ChatContext): string {
  const name = path.basename(context.uri.path);
  if (context.range === undefined || context.range.isEmpty) {
    return name;
  }
  const first = context.range.start.line + 1;
  const last = context.range.end.line + 1 - (context.range.end.character === 0 && context.range.end.line > context.range.start.line ? 1 : 0);
  return first === last ? `${name}:${first}` : `${name}:${first}-${last}`;
}

let nextTokenSerial = 0;

/** The single chat panel: a conversation with the chat model, streamed from `bytebuddy/chat`. */
export class ChatPanel implements vscode.Disposable {
  private static current: ChatPanel | undefined;

  private readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly history: ChatMessage[] = [];
  private readonly contexts = new Map<number, ChatContext | undefined>();
  private readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;
  private nextId = 1;
  private inFlight: vscode.CancellationTokenSource | undefined;

  static show(extensionUri: vscode.Uri, server: ServerApi, contextProvider: () => ChatContext | undefined): ChatPanel {
    if (ChatPanel.current !== undefined) {
      ChatPanel.current.panel.reveal(undefined, false);
      return ChatPanel.current;
    }
    ChatPanel.current = new ChatPanel(extensionUri, server, contextProvider);
    return ChatPanel.current;
  }

  private constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: ServerApi,
    private readonly contextProvider: () => ChatContext | undefined,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.panel = vscode.window.createWebviewPanel(
      'bytebuddy.chat',
      'ByteBuddy Chat',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
      },
    );
    this.panel.webview.html = this.html();
    this.panel.onDidDispose(() => this.dispose(), undefined, this.disposables);
    this.panel.webview.onDidReceiveMessage((message: FromWebview) => this.onMessage(message), undefined, this.disposables);
  }

  /** Sends a question, with the given editor context (or the current one). */
  async ask(text: string, context: ChatContext | undefined = this.contextProvider()): Promise<void> {
    await this.ready;
    if (this.inFlight !== undefined) {
      void vscode.window.showInformationMessage('ByteBuddy: wait for the current answer, or stop it first.');
      return;
    }
    const id = this.nextId++;
    this.contexts.set(id, context);
    this.post({ type: 'user', id, text, context: context === undefined ? undefined : contextLabel(context) });
    this.post({ type: 'assistantStart', id });
    this.post({ type: 'busy', busy: true });
    this.history.push({ role: 'user', content: text });

    const cancellation = new vscode.CancellationTokenSource();
    this.inFlight = cancellation;
    const partialResultToken = `bytebuddy-chat-${process.pid}-${++nextTokenSerial}`;
    let progress: vscode.Disposable | undefined;
    try {
      progress = this.server.onProgress<ChatProgress>(partialResultToken, (value) => {
        if (typeof value?.delta === 'string' && value.delta !== '') {
          this.post({ type: 'delta', id, text: value.delta });
        }
      });
      const params: ChatParams = { messages: [...this.history], partialResultToken };
      if (context !== undefined) {
        params.textDocument = { uri: this.server.toProtocolUri(context.uri) };
        if (context.range !== undefined && !context.range.isEmpty) {
          params.range = toLspRange(context.range);
        }
      }
      const result = await this.server.request<ChatResult>(Methods.chat, params, cancellation.token);
      this.history.push({ role: 'assistant', content: result.content });
      const added = summarizeChatContext(result.context);
      this.post({
        type: 'assistantEnd',
        id,
        content: result.content,
        model: result.model,
        ...(result.truncated === true ? { truncated: true } : {}),
        ...(added !== undefined ? { context: added } : {}),
      });
    } catch (error) {
      // Keep the history consistent: a question without an answer is dropped.
      this.history.pop();
      const message = cancellation.token.isCancellationRequested ? 'Stopped.' : `The chat request failed: ${errorMessage(error)}`;
      this.post({ type: 'failed', id, message });
    } finally {
      progress?.dispose();
      cancellation.dispose();
      this.inFlight = undefined;
      this.post({ type: 'busy', busy: false });
    }
  }

  dispose(): void {
    if (ChatPanel.current !== this) {
      return;
    }
    ChatPanel.current = undefined;
    this.inFlight?.cancel();
    this.panel.dispose();
    this.disposables.forEach((d) => d.dispose());
  }

  private async onMessage(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.markReady();
        break;
      case 'send':
        await this.ask(message.text);
        break;
      case 'stop':
        this.inFlight?.cancel();
        break;
      case 'apply':
        await this.apply(message.id, message.code);
        break;
    }
  }

  private async apply(id: number, code: string): Promise<void> {
    const context = this.contexts.get(id) ?? this.contextProvider();
    if (context === undefined) {
      void vscode.window.showWarningMessage('ByteBuddy: open the file to apply this code to, then press Apply again.');
      return;
    }
    const args: ApplyArgs = { uri: this.server.toProtocolUri(context.uri), code };
    if (context.range !== undefined && !context.range.isEmpty) {
      args.range = toLspRange(context.range);
    }
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'ByteBuddy: applying the code…', cancellable: true },
        (_progress, token) => this.server.executeCommand(ServerCommands.apply, args, token),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`ByteBuddy: applying the code failed: ${errorMessage(error)}`);
    }
  }

  private post(message: ToWebview): void {
    void this.panel.webview.postMessage(message);
  }

  private html(): string {
    const webview = this.panel.webview;
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', 'chat.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'media', 'chat.css'));
    const nonce = makeNonce();
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>ByteBuddy Chat</title>
</head>
<body>
<div id="log" role="log" aria-live="polite"></div>
<form id="composer">
  <textarea id="prompt" rows="2" placeholder="Ask about the selection or the file (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
  <button id="stop" type="button" hidden>Stop</button>
</form>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }
}

function makeNonce(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let nonce = '';
  for (let i = 0; i < 32; i++) {
    nonce += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
  }
  return nonce;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return typeof error === 'string' ? error : JSON.stringify(error);
}
