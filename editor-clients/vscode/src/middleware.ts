import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';
import { ByteBuddySettings, SECTION, ServerSettingsSection } from './settings';

/** Resolves after `ms`, or early with false when the request is cancelled meanwhile. */
export function waitUnlessCancelled(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  if (token.isCancellationRequested) {
    return Promise.resolve(false);
  }
  if (ms <= 0) {
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      resolve(!token.isCancellationRequested);
    }, ms);
    const subscription = token.onCancellationRequested(() => {
      clearTimeout(timer);
      subscription.dispose();
      resolve(false);
    });
  });
}

/**
 * Client-side gates in front of the server: autocomplete off means no request at all,
 * typing bursts are debounced (VS Code cancels superseded requests), and the completion
 * list only carries the AI item when the fallback is on.
 */
export function createMiddleware(
  getSettings: () => ByteBuddySettings,
  getServerSection: () => ServerSettingsSection,
): Middleware {
  return {
    provideInlineCompletionItems: async (document, position, context, token, next) => {
      const settings = getSettings();
      if (!settings.autocompleteEnabled) {
        return undefined;
      }
      const explicit = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
      if (!explicit && !(await waitUnlessCancelled(settings.debounceMs, token))) {
        return undefined;
      }
      return next(document, position, context, token);
    },
    provideCompletionItem: (document, position, context, token, next) => {
      if (!getSettings().completionFallback) {
        return undefined;
      }
      return next(document, position, context, token);
    },
    workspace: {
      // Server pulls of the `bytebuddy` section get the same resolved values as pushes.
      configuration: async (params, token, next) => {
        const answers = await next(params, token);
        if (!Array.isArray(answers)) {
          return answers;
        }
        return answers.map((answer, index) => (params.items[index]?.section === SECTION ? getServerSection() : answer));
      },
    },
  };
}
