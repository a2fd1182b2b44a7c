import { describe, expect, it } from 'vitest';
import { splitFences } from '../../src/webview/markdown';

describe('splitFences', () => {
  it('separates prose from fenced code blocks', () => {
    expect(splitFences('Here:\n```python\ndef f():\n    return 1\n```\nDone.')).toEqual([
      { kind: 'text', text: 'Here:' },
      { kind: 'code', language: 'python', code: 'def f():\n    return 1', complete: true },
      { kind: 'text', text: 'Done.' },
    ]);
  });

  it('marks a block whose closing fence has not streamed in yet', () => {
    expect(splitFences('```js\nlet a')).toEqual([{ kind: 'code', language: 'js', code: 'let a', complete: false }]);
  });

  it('keeps shorter fences inside longer ones and handles tildes', () => {
    const segments = splitFences('````md\n```\ninner\n```\n````\n~~~\nx\n~~~');
    expect(segments).toEqual([
      { kind: 'code', language: 'md', code: '```\ninner\n```', complete: true },
      { kind: 'code', language: '', code: 'x', complete: true },
    ]);
  });

  it('returns nothing for an empty answer', () => {
    expect(splitFences('')).toEqual([]);
  });
});
