import * as vscode from 'vscode';
import { Commands, registerCommands } from './commands';
import { FailureNotifier } from './failureNotifier';
import { ServerController } from './serverController';
import { ByteBuddySettings, SECTION, needsRestart, readSettings } from './settings';
import { StatusBar } from './statusBar';

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('ByteBuddy', { log: true });
  let settings: ByteBuddySettings = readSettings(vscode.workspace.getConfiguration(SECTION));
  const statusBar = new StatusBar(settings.autocompleteEnabled);
  const notifier = new FailureNotifier({
    showError: (message, ...buttons) => vscode.window.showErrorMessage(message, ...buttons),
    showLog: () => output.show(true),
    openSettings: () => void vscode.commands.executeCommand(Commands.openSettings),
    restart: () => void vscode.commands.executeCommand(Commands.restartServer),
  });
  const server = new ServerController(output, statusBar, notifier, () => settings);
  controller = server;

  let lastEditor = vscode.window.activeTextEditor;
  context.subscriptions.push(
    output,
    statusBar,
    server,
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      if (editor !== undefined) {
        lastEditor = editor;
      }
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) {
        return;
      }
      const previous = settings;
      settings = readSettings(vscode.workspace.getConfiguration(SECTION));
      statusBar.setAutocompleteEnabled(settings.autocompleteEnabled);
      if (needsRestart(previous, settings)) {
        output.info('The server command changed; restarting the server.');
        await server.restart();
      } else {
        await server.pushSettings();
      }
    }),
    ...registerCommands({
      extensionUri: context.extensionUri,
      server,
      output,
      restart: () => server.restart(),
      lastEditor: () => lastEditor,
      budget: () => statusBar.budget,
    }),
  );
  await server.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
