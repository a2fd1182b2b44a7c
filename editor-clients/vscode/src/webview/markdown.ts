export type Segment =
  | { kind: 'text'; text: string }
  | { kind: 'code'; language: string; code: string; complete: boolean };

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;

/**
 * Splits a (possibly still streaming) Markdown answer into prose and fenced code blocks.
 * A block whose closing fence has not arrived yet is returned with `complete: false`.
 */
export function splitFences(markdown: string): Segment[] {
  const segments: Segment[] = [];
  const lines = markdown.split('\n');
  let prose: string[] = [];
  let code: string[] | undefined;
  let fence = '';
  let language = '';

  const flushProse = (): void => {
    const text = prose.join('\n');
    if (text.trim() !== '') {
      segments.push({ kind: 'text', text: text.replace(/^\n+|\n+$/g, '') });
    }
    prose = [];
  };

  for (const line of lines) {
    if (code === undefined) {
      const open = FENCE.exec(line);
      if (open !== null) {
        flushProse();
        code = [];
        fence = open[1];
        language = open[2] ?? '';
      } else {
        prose.push(line);
      }
      continue;
    }
    const trimmed = line.trim();
    if (trimmed.startsWith(fence[0]) && trimmed.length >= fence.length && [...trimmed].every((c) => c === fence[0])) {
      segments.push({ kind: 'code', language, code: code.join('\n'), complete: true });
      code = undefined;
    } else {
      code.push(line);
    }
  }
  if (code !== undefined) {
    segments.push({ kind: 'code', language, code: code.join('\n'), complete: false });
  } else {
    flushProse();
  }
  return segments;
}
