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
