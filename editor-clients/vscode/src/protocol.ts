// The ByteBuddy LSP surface this extension talks to (the server's lsp_types.py).

export const Methods = {
  chat: 'bytebuddy/chat',
  models: 'bytebuddy/models',
  status: 'bytebuddy/status',
} as const;

/** Commands the server executes through `workspace/executeCommand`. */
export const ServerCommands = {
  edit: 'bytebuddy.edit',
  apply: 'bytebuddy.apply',
  selectModel: 'bytebuddy.selectModel',
  acceptCompletion: 'bytebuddy.acceptCompletion',
  toggleAutocomplete: 'bytebuddy.toggleAutocomplete',
  reloadConfig: 'bytebuddy.reloadConfig',
} as const;

export type ServerState = 'ready' | 'busy' | 'loading' | 'error' | 'disabled' | 'unconfigured';

export interface StatusParams {
  state: ServerState;
  message: string;
  model?: string;
  role?: string;
}

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatParams {
  messages: ChatMessage[];
  textDocument?: { uri: string };
  range?: LspRange;
  partialResultToken?: string;
}

export interface ChatResult {
  content: string;
  model: string;
  /** The answer was cut at the model's token limit (maxTokens). */
  truncated?: boolean;
}

export interface ChatProgress {
  delta?: string;
}

export interface ModelInfo {
  name: string;
  model: string;
  provider: string;
  roles: string[];
  /** Whether the model currently serves its roles; a list names the roles it serves. */
  active: boolean | string[];
}

export interface EditArgs {
  uri: string;
  range: LspRange;
  instruction: string;
}

export interface ApplyArgs {
  uri: string;
  code: string;
  range?: LspRange;
}

export const ROLES = ['autocomplete', 'chat', 'edit', 'apply'] as const;
export type Role = (typeof ROLES)[number];

/** True when `model` is the one serving `role` according to `bytebuddy/models`. */
export function servesRole(model: ModelInfo, role: string): boolean {
  if (Array.isArray(model.active)) {
    return model.active.includes(role);
  }
  return model.active === true && model.roles.includes(role);
}
