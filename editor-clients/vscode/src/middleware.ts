import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';
import { ByteBuddySettings, SECTION, ServerSettingsSection } from './settings';

/**
 * Client-side gates in front of the server: autocomplete off means no request at all
 * (whatever the server thinks), and the completion list only carries the AI item when
 * the fallback is on, since VS Code already shows the suggestion as ghost text.
 * Debouncing is the server's job (`autocomplete.debounceMs`), so it happens once.
 */
export function createMiddleware(
  getSettings: () => ByteBuddySettings,
  getServerSection: () => ServerSettingsSection,
): Middleware {
  return {
    provideInlineCompletionItems: (document, position, context, token, next) => {
      if (!getSettings().autocompleteEnabled) {
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
    // The "Edit with instruction…" code action carries bytebuddy.edit {uri, range} without
    // an instruction: ask the user for it here, then let the server run the edit.
    executeCommand: async (command, args, next) => {
      const first = args[0] as { instruction?: unknown } | undefined;
      if (command !== 'bytebuddy.edit' || typeof first !== 'object' || first === null || first.instruction) {
        return next(command, args);
      }
      const instruction = await vscode.window.showInputBox({
        prompt: 'ByteBuddy: how should the selection change?',
        placeHolder: 'e.g. add error handling',
      });
      if (!instruction) {
        return undefined;
      }
      return next(command, [{ ...first, instruction }, ...args.slice(1)]);
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
