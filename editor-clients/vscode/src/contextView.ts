import type { ChatResult, ContextAnswer, ContextSnippet } from './protocol';

/** The scheme of the read-only documents that show `bytebuddy/context` answers. */
export const CONTEXT_SCHEME = 'bytebuddy-context';

function lines(snippet: ContextSnippet): string {
  const first = snippet.startLine + 1;
  return snippet.endLine > first ? `${first}-${snippet.endLine}` : `${first}`;
}

function fence(text: string): string {
  let ticks = '```';
  while (text.includes(ticks)) {
    ticks += '`';
  }
  return ticks;
}

/**
 * The inspector's answer as Markdown: what the next prompt at `where` includes from
 * other files (each snippet with its file, lines, score and tokens), why nothing when
 * nothing, and the prompt itself. Pure, so it is tested without VS Code.
 */
export function formatContextReport(answer: ContextAnswer, where: string): string {
  const out: string[] = [`# ByteBuddy context: ${where}`, ''];
  const facts: string[] = [`role **${answer.role}**`];
  if (answer.model !== undefined) {
    facts.push(`model **${answer.model}**${answer.modelId ? ` (\`${answer.modelId}\`)` : ''}`);
  }
  if (answer.format) {
    facts.push(`format **${answer.format}**`);
  }
  const tokens = answer.tokens ?? {};
  if (tokens.context !== undefined) {
    facts.push(`context ${tokens.context} of ${tokens.budget ?? '?'} tokens`);
  }
  if (tokens.prompt !== undefined) {
    facts.push(`prompt ≈ ${tokens.prompt} tokens`);
  }
  out.push(facts.join(' · '), '');
  const index = answer.index;
  if (index !== undefined) {
    const parts = [`index: ${index.state}`];
    if (index.files !== undefined) {
      parts.push(`${index.files} files`);
    }
    if (index.semantic) {
      parts.push(`semantic: ${index.semantic}`);
    }
    out.push(parts.join(', '), '');
  }
  if (answer.query) {
    out.push(`query: ${answer.query}`, '');
  }
  if (answer.snippets.length === 0) {
    out.push(`**No context from other files:** ${answer.reason ?? 'nothing found'}`, '');
  }
  answer.snippets.forEach((snippet, number) => {
    const what = snippet.symbol ? `${snippet.kind} \`${snippet.symbol}\`` : snippet.kind;
    out.push(`## ${number + 1}. ${snippet.path}:${lines(snippet)} — ${what}`);
    out.push(`score ${snippet.score} · ${snippet.tokens} tokens`, '');
    if (snippet.text !== undefined) {
      const ticks = fence(snippet.text);
      out.push(ticks, snippet.text, ticks, '');
    }
  });
  if (answer.prompt !== undefined) {
    const ticks = fence(answer.prompt);
    out.push('## The prompt sent', '', ticks, answer.prompt, ticks, '');
  } else if (answer.messages !== undefined) {
    out.push('## The messages sent', '');
    for (const message of answer.messages) {
      const ticks = fence(message.content);
      out.push(`**${message.role}**`, '', ticks, message.content, ticks, '');
    }
  }
  return out.join('\n');
}

/** One line for a chat answer: the workspace code @workspace/@file added, or why none. */
export function summarizeChatContext(context: ChatResult['context']): string | undefined {
  if (context === undefined) {
    return undefined;
  }
  const places = context.snippets.map((snippet) => (snippet.kind === 'file' ? snippet.path : `${snippet.path}:${lines(snippet)}`));
  const parts: string[] = [];
  if (places.length > 0) {
    parts.push(`Context: ${places.join(', ')}`);
  }
  if (context.reason) {
    parts.push(places.length > 0 ? context.reason : `No workspace context: ${context.reason}`);
  }
  return parts.join(' · ');
}
