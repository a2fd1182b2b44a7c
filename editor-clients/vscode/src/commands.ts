import * as vscode from 'vscode';
import { ChatContext, ChatPanel, errorMessage, toLspRange } from './chatPanel';
import { CONTEXT_SCHEME, formatContextReport } from './contextView';
import { BudgetStatus, ContextAnswer, ContextParams, EditArgs, Methods, ModelInfo, ROLES, ServerCommands, servesRole } from './protocol';
import type { ServerApi } from './serverController';
import { SECTION } from './settings';
import { SHOW_USAGE_COMMAND, toQuery } from './usageFormat';
import { UsagePanel } from './usageView';

export const Commands = {
  editSelection: 'bytebuddy.editSelection',
  openChat: 'bytebuddy.openChat',
  explainSelection: 'bytebuddy.explainSelection',
  selectModelForRole: 'bytebuddy.selectModelForRole',
  toggleAutocomplete: 'bytebuddy.toggleAutocompleteSetting',
  showLog: 'bytebuddy.showLog',
  restartServer: 'bytebuddy.restartServer',
  openSettings: 'bytebuddy.openSettings',
  showUsage: SHOW_USAGE_COMMAND,
  showContext: 'bytebuddy.showContext',
  showWorkspaceContext: 'bytebuddy.showWorkspaceContext',
} as const;

export const EXPLAIN_PROMPT = 'Explain what the selected code does, step by step, and point out anything surprising.';

export interface CommandDeps {
  extensionUri: vscode.Uri;
  server: ServerApi;
  output: vscode.OutputChannel;
  restart(): Promise<void>;
  /** The text editor the user last worked in (the chat panel takes focus from it). */
  lastEditor(): vscode.TextEditor | undefined;
  /** The budget from the latest `bytebuddy/status`, if any. */
  budget?(): BudgetStatus | undefined;
}

/** The file and selection a chat question is about. */
export function editorContext(editor: vscode.TextEditor | undefined): ChatContext | undefined {
  if (editor === undefined) {
    return undefined;
  }
  const selection = editor.selection;
  return { uri: editor.document.uri, range: selection.isEmpty ? undefined : new vscode.Range(selection.start, selection.end) };
}

/** The selection, or the cursor's whole line when nothing is selected. */
export function editRange(editor: vscode.TextEditor): vscode.Range {
  const selection = editor.selection;
  if (!selection.isEmpty) {
    return new vscode.Range(selection.start, selection.end);
  }
  return editor.document.lineAt(selection.active.line).range;
}

export async function editSelection(deps: CommandDeps): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? deps.lastEditor();
  if (editor === undefined) {
    void vscode.window.showWarningMessage('ByteBuddy: open a file and select the code to edit.');
    return;
  }
  const instruction = await vscode.window.showInputBox({
    title: 'ByteBuddy: Edit selection',
    prompt: 'How should the selected code change?',
    placeHolder: 'e.g. add type hints and a docstring',
    ignoreFocusOut: true,
  });
  if (instruction === undefined || instruction.trim() === '') {
    return;
  }
  const args: EditArgs = {
    uri: deps.server.toProtocolUri(editor.document.uri),
    range: toLspRange(editRange(editor)),
    instruction: instruction.trim(),
  };
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'ByteBuddy: editing…', cancellable: true },
      (_progress, token) => deps.server.executeCommand(ServerCommands.edit, args, token),
    );
  } catch (error) {
    void vscode.window.showErrorMessage(`ByteBuddy: the edit failed: ${errorMessage(error)}`);
  }
}

export async function explainSelection(deps: CommandDeps): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? deps.lastEditor();
  const context = editorContext(editor);
  if (context === undefined) {
    void vscode.window.showWarningMessage('ByteBuddy: select the code to explain first.');
    return;
  }
  const panel = ChatPanel.show(deps.extensionUri, deps.server, () => editorContext(deps.lastEditor()));
  await panel.ask(EXPLAIN_PROMPT, context);
}

export function openChat(deps: CommandDeps): void {
  ChatPanel.show(deps.extensionUri, deps.server, () => editorContext(deps.lastEditor()));
}

interface RolePick extends vscode.QuickPickItem {
  role: string;
}
interface ModelPick extends vscode.QuickPickItem {
  name: string;
}

export async function selectModelForRole(deps: CommandDeps): Promise<void> {
  let models: ModelInfo[];
  try {
    models = (await deps.server.request<ModelInfo[] | null>(Methods.models, undefined)) ?? [];
  } catch (error) {
    void vscode.window.showErrorMessage(`ByteBuddy: could not list the models: ${errorMessage(error)}`);
    return;
  }
  if (models.length === 0) {
    void vscode.window.showWarningMessage('ByteBuddy: no models are configured. Set `bytebuddy.configPath` or create .bytebuddy/config.yaml.');
    return;
  }
  const rolePicks: RolePick[] = ROLES.map((role) => {
    const active = models.find((model) => servesRole(model, role));
    return { role, label: role, description: active !== undefined ? `${active.name} (${active.model})` : 'no model' };
  });
  const rolePick = await vscode.window.showQuickPick(rolePicks, { title: 'ByteBuddy: select a model for…', placeHolder: 'Role' });
  if (rolePick === undefined) {
    return;
  }
  const candidates = models.filter((model) => model.roles.includes(rolePick.role));
  if (candidates.length === 0) {
    void vscode.window.showWarningMessage(`ByteBuddy: no configured model lists the role "${rolePick.role}".`);
    return;
  }
  const modelPicks: ModelPick[] = candidates.map((model) => ({
    name: model.name,
    label: model.name,
    description: `${model.model} · ${model.provider}`,
    detail: servesRole(model, rolePick.role) ? 'current' : undefined,
    picked: servesRole(model, rolePick.role),
  }));
  const modelPick = await vscode.window.showQuickPick(modelPicks, {
    title: `ByteBuddy: model for ${rolePick.role}`,
    placeHolder: 'Model',
  });
  if (modelPick === undefined) {
    return;
  }
  try {
    await deps.server.executeCommand(ServerCommands.selectModel, { role: rolePick.role, name: modelPick.name });
    vscode.window.setStatusBarMessage(`ByteBuddy: ${rolePick.role} now uses ${modelPick.name}`, 4000);
  } catch (error) {
    void vscode.window.showErrorMessage(`ByteBuddy: could not select ${modelPick.name}: ${errorMessage(error)}`);
  }
}

/** "ByteBuddy: Show usage": spend and tokens by model (the view's links pass other queries). */
export async function showUsage(deps: CommandDeps, arg?: unknown): Promise<void> {
  try {
    await UsagePanel.show(deps.server, toQuery(arg), () => deps.budget?.());
  } catch (error) {
    void vscode.window.showErrorMessage(`ByteBuddy: could not read the usage: ${errorMessage(error)}`);
  }
}

/**
 * Flips `bytebuddy.autocomplete.enabled` where it is set (workspace or user), so the choice
 * survives restarts; the settings change then reaches the server and the status bar.
 */
export async function toggleAutocomplete(): Promise<boolean> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const inspected = config.inspect<boolean>('autocomplete.enabled');
  const current = config.get<boolean>('autocomplete.enabled', true);
  const target =
    inspected?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await config.update('autocomplete.enabled', !current, target);
  vscode.window.setStatusBarMessage(`ByteBuddy autocomplete ${current ? 'off' : 'on'}`, 3000);
  return !current;
}

/** The read-only document that shows the latest `bytebuddy/context` answer. */
export class ContextDocument implements vscode.TextDocumentContentProvider {
  static readonly uri = vscode.Uri.from({ scheme: CONTEXT_SCHEME, path: '/ByteBuddy context.md' });
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  report = '';

  provideTextDocumentContent(): string {
    return this.report;
  }

  update(report: string): void {
    this.report = report;
    this.changed.fire(ContextDocument.uri);
  }
}

/**
 * Asks the server what the next prompt at the cursor would include (role autocomplete,
 * or chat retrieval for `query`) and shows it beside the editor.
 */
export async function showContext(deps: CommandDeps, view: ContextDocument, query?: string): Promise<ContextAnswer | undefined> {
  const editor = vscode.window.activeTextEditor ?? deps.lastEditor();
  if (editor === undefined || editor.document.uri.scheme === CONTEXT_SCHEME) {
    void vscode.window.showWarningMessage('ByteBuddy: put the cursor in a file first.');
    return undefined;
  }
  const position = editor.selection.active;
  const params: ContextParams = {
    textDocument: { uri: deps.server.toProtocolUri(editor.document.uri) },
    position: { line: position.line, character: position.character },
    role: query === undefined ? 'autocomplete' : 'chat',
    ...(query === undefined ? {} : { query }),
  };
  let answer: ContextAnswer;
  try {
    answer = await deps.server.request<ContextAnswer>(Methods.context, params);
  } catch (error) {
    void vscode.window.showErrorMessage(`ByteBuddy: could not get the context: ${errorMessage(error)}`);
    return undefined;
  }
  const where = `${vscode.workspace.asRelativePath(editor.document.uri)}:${position.line + 1}:${position.character + 1}`;
  view.update(formatContextReport(answer, where));
  const document = await vscode.workspace.openTextDocument(ContextDocument.uri);
  await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
  return answer;
}

export async function showWorkspaceContext(deps: CommandDeps, view: ContextDocument): Promise<ContextAnswer | undefined> {
  const query = await vscode.window.showInputBox({
    title: 'ByteBuddy: workspace context',
    prompt: 'A question, as you would ask it in chat with @workspace',
    ignoreFocusOut: true,
  });
  if (query === undefined || query.trim() === '') {
    return undefined;
  }
  return showContext(deps, view, query.trim());
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const contextView = new ContextDocument();
  return [
    vscode.workspace.registerTextDocumentContentProvider(CONTEXT_SCHEME, contextView),
    vscode.commands.registerCommand(Commands.showContext, () => showContext(deps, contextView)),
    vscode.commands.registerCommand(Commands.showWorkspaceContext, () => showWorkspaceContext(deps, contextView)),
    vscode.commands.registerCommand(Commands.editSelection, () => editSelection(deps)),
    vscode.commands.registerCommand(Commands.openChat, () => openChat(deps)),
    vscode.commands.registerCommand(Commands.explainSelection, () => explainSelection(deps)),
    vscode.commands.registerCommand(Commands.selectModelForRole, () => selectModelForRole(deps)),
    vscode.commands.registerCommand(Commands.toggleAutocomplete, () => toggleAutocomplete()),
    vscode.commands.registerCommand(Commands.showLog, () => deps.output.show(true)),
    vscode.commands.registerCommand(Commands.showUsage, (arg?: unknown) => showUsage(deps, arg)),
    vscode.commands.registerCommand(Commands.restartServer, () => deps.restart()),
    vscode.commands.registerCommand(Commands.openSettings, () =>
      vscode.commands.executeCommand('workbench.action.openSettings', `@ext:bytebuddy.bytebuddy-vscode`),
    ),
  ];
}
