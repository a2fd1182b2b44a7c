import * as vscode from 'vscode';
import { StatusParams, UsageTotals } from './protocol';
import { ConnectionState, StatusInputs, presentStatus } from './statusView';

/** Owns the ByteBuddy status bar item and re-renders it from the latest inputs. */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private inputs: StatusInputs;

  constructor(autocompleteEnabled: boolean) {
    this.item = vscode.window.createStatusBarItem('bytebuddy.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'ByteBuddy';
    this.inputs = { connection: 'starting', autocompleteEnabled };
    this.render();
    this.item.show();
  }

  setConnection(connection: ConnectionState): void {
    // A new server process starts from scratch: forget the old one's status.
    const server = connection === 'running' ? this.inputs.server : undefined;
    const usageToday = connection === 'running' ? this.inputs.usageToday : undefined;
    this.inputs = { ...this.inputs, connection, server, usageToday };
    this.render();
  }

  setServerStatus(status: StatusParams): void {
    this.inputs = { ...this.inputs, server: status };
    this.render();
  }

  setUsageToday(usage: UsageTotals | undefined): void {
    this.inputs = { ...this.inputs, usageToday: usage };
    this.render();
  }

  get budget(): StatusParams['budget'] {
    return this.inputs.server?.budget;
  }

  setAutocompleteEnabled(enabled: boolean): void {
    this.inputs = { ...this.inputs, autocompleteEnabled: enabled };
    this.render();
  }

  get shownState(): string {
    return presentStatus(this.inputs).state;
  }

  private render(): void {
    const view = presentStatus(this.inputs);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.command = view.command;
    this.item.accessibilityInformation = { label: view.accessibilityLabel, role: 'button' };
    this.item.backgroundColor =
      view.background === undefined ? undefined : new vscode.ThemeColor(`statusBarItem.${view.background}Background`);
  }

  dispose(): void {
    this.item.dispose();
  }
}
