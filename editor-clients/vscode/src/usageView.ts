import * as vscode from 'vscode';
import { BudgetStatus, Methods, UsageParams, UsageReport } from './protocol';
import type { ServerApi } from './serverController';
import { SHOW_USAGE_COMMAND, UsageQuery, renderUsageHtml } from './usageFormat';

/** The "ByteBuddy: Show usage" view: one panel, re-rendered for each query. */
export class UsagePanel implements vscode.Disposable {
  private static current: UsagePanel | undefined;
  private readonly panel: vscode.WebviewPanel;

  static async show(server: ServerApi, query: UsageQuery, budget: () => BudgetStatus | undefined): Promise<void> {
    const report = await server.request<UsageReport>(Methods.usage, { since: query.since, by: query.by } satisfies UsageParams);
    if (UsagePanel.current === undefined) {
      UsagePanel.current = new UsagePanel();
    }
    const panel = UsagePanel.current.panel;
    panel.webview.html = renderUsageHtml(report, query, makeNonce(), budget());
    panel.reveal(undefined, false);
  }

  private constructor() {
    this.panel = vscode.window.createWebviewPanel(
      'bytebuddy.usage',
      'ByteBuddy Usage',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: false, enableCommandUris: [SHOW_USAGE_COMMAND], localResourceRoots: [] },
    );
    this.panel.onDidDispose(() => this.dispose());
  }

  dispose(): void {
    if (UsagePanel.current === this) {
      UsagePanel.current = undefined;
      this.panel.dispose();
    }
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
