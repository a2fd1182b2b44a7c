// The ByteBuddy LSP surface this extension talks to (the server's lsp_types.py).

export const Methods = {
  chat: 'bytebuddy/chat',
  models: 'bytebuddy/models',
  status: 'bytebuddy/status',
  usage: 'bytebuddy/usage',
  context: 'bytebuddy/context',
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
  /** The most used budget, when the config sets `budgets`. */
  budget?: BudgetStatus;
}

export interface BudgetStatus {
  state: 'ok' | 'warning' | 'exceeded';
  percent: number;
  period: 'day' | 'month';
  message: string;
  onExceed: 'warn' | 'pause-autocomplete' | 'block';
  model?: string;
  tokens?: { used: number; limit: number };
  usd?: { used: number; limit: number };
}

export const USAGE_GROUPINGS = ['model', 'provider', 'role', 'operation', 'day'] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

/** `bytebuddy/usage` params: `since` is a duration (`7d`, `24h`), `today`, `month` or a date. */
export interface UsageParams {
  since?: string;
  by?: UsageGrouping;
}

export interface UsageTotals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  estimated: boolean;
  errors: number;
  cache_hits: number;
}

export interface UsageRow extends UsageTotals {
  model: string;
  provider: string;
  role: string;
  operation: string;
  day?: string;
}

export interface UsageReport {
  rows: UsageRow[];
  total: UsageTotals;
  by: UsageGrouping;
  since: string;
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
  /** Present when the question used @workspace or @file: what was added (without code). */
  context?: { snippets: ContextSnippet[]; reason: string | null };
}

export type ContextRole = 'autocomplete' | 'chat' | 'edit';

export interface ContextParams {
  textDocument: { uri: string };
  position: LspPosition;
  role: ContextRole;
  query?: string;
}

export interface ContextSnippet {
  kind: 'definition' | 'recent-edit' | 'similar' | 'retrieved' | 'file';
  path: string;
  uri: string;
  /** 0-based, end exclusive. */
  startLine: number;
  endLine: number;
  score: number;
  tokens: number;
  text?: string;
  symbol?: string;
}

/** `bytebuddy/context`: exactly what the next prompt would include, or why nothing. */
export interface ContextAnswer {
  role: ContextRole;
  model?: string;
  modelId?: string;
  kind?: string;
  format?: string | null;
  query?: string;
  snippets: ContextSnippet[];
  tokens?: { context?: number; budget?: number; prompt?: number };
  reason: string | null;
  prompt?: string;
  messages?: ChatMessage[];
  index?: { state: string; files?: number; chunks?: number; embedded?: number; semantic?: string | null };
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
