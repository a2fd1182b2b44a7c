// Messages between the chat panel (extension side) and its webview.

export interface ContextLabel {
  label: string;
}

export type ToWebview =
  | { type: 'user'; id: number; text: string; context?: string }
  | { type: 'assistantStart'; id: number }
  | { type: 'delta'; id: number; text: string }
  | { type: 'assistantEnd'; id: number; content: string; model: string; truncated?: boolean; context?: string }
  | { type: 'failed'; id: number; message: string }
  | { type: 'busy'; busy: boolean };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'apply'; id: number; code: string }
  | { type: 'stop' };
