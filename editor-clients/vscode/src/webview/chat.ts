// Runs inside the chat webview: renders the conversation, streams answers, and offers an
// "Apply" button on each complete code block.
import { splitFences } from './markdown';
import type { FromWebview, ToWebview } from './messages';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscodeApi = acquireVsCodeApi();
const log = document.getElementById('log') as HTMLElement;
const form = document.getElementById('composer') as HTMLFormElement;
const input = document.getElementById('prompt') as HTMLTextAreaElement;
const sendButton = document.getElementById('send') as HTMLButtonElement;
const stopButton = document.getElementById('stop') as HTMLButtonElement;

interface AnswerState {
  element: HTMLElement;
  body: HTMLElement;
  text: string;
  deltas: number;
  done: boolean;
}
const answers = new Map<number, AnswerState>();

function append(element: HTMLElement): void {
  log.appendChild(element);
  element.scrollIntoView({ block: 'end' });
}

function render(answer: AnswerState, id: number): void {
  answer.body.replaceChildren();
  for (const segment of splitFences(answer.text)) {
    if (segment.kind === 'text') {
      const paragraph = document.createElement('div');
      paragraph.className = 'prose';
      paragraph.textContent = segment.text;
      answer.body.appendChild(paragraph);
      continue;
    }
    const block = document.createElement('div');
    block.className = 'code-block';
    const pre = document.createElement('pre');
    const code = document.createElement('code');
    code.textContent = segment.code;
    if (segment.language !== '') {
      code.dataset.language = segment.language;
    }
    pre.appendChild(code);
    block.appendChild(pre);
    if (segment.complete) {
      const toolbar = document.createElement('div');
      toolbar.className = 'code-toolbar';
      const apply = document.createElement('button');
      apply.className = 'apply';
      apply.textContent = 'Apply';
      apply.title = 'Apply this code to the file the question was about';
      apply.addEventListener('click', () => vscodeApi.postMessage({ type: 'apply', id, code: segment.code }));
      toolbar.appendChild(apply);
      block.appendChild(toolbar);
    }
    answer.body.appendChild(block);
  }
  answer.element.dataset.deltas = String(answer.deltas);
  answer.element.dataset.done = String(answer.done);
  answer.element.scrollIntoView({ block: 'end' });
}

function setBusy(busy: boolean): void {
  sendButton.disabled = busy;
  stopButton.hidden = !busy;
}

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  switch (message.type) {
    case 'user': {
      const element = document.createElement('div');
      element.className = 'message user';
      if (message.context !== undefined) {
        const context = document.createElement('div');
        context.className = 'context';
        context.textContent = message.context;
        element.appendChild(context);
      }
      const text = document.createElement('div');
      text.className = 'prose';
      text.textContent = message.text;
      element.appendChild(text);
      append(element);
      break;
    }
    case 'assistantStart': {
      const element = document.createElement('div');
      element.className = 'message assistant';
      element.dataset.id = String(message.id);
      const body = document.createElement('div');
      body.className = 'body';
      const pending = document.createElement('div');
      pending.className = 'pending';
      pending.textContent = '…';
      body.appendChild(pending);
      element.appendChild(body);
      append(element);
      answers.set(message.id, { element, body, text: '', deltas: 0, done: false });
      break;
    }
    case 'delta': {
      const answer = answers.get(message.id);
      if (answer !== undefined && !answer.done) {
        answer.text += message.text;
        answer.deltas += 1;
        render(answer, message.id);
      }
      break;
    }
    case 'assistantEnd': {
      const answer = answers.get(message.id);
      if (answer !== undefined) {
        // The final result is authoritative even if a progress message was lost.
        answer.text = message.content;
        answer.done = true;
        render(answer, message.id);
        const footer = document.createElement('div');
        footer.className = 'model';
        footer.textContent = message.truncated
          ? `${message.model} · cut at the token limit (raise maxTokens for longer answers)`
          : message.model;
        answer.element.appendChild(footer);
        if (message.context !== undefined) {
          // What @workspace / @file added to the prompt: the user sees what was sent.
          const context = document.createElement('div');
          context.className = 'context';
          context.textContent = message.context;
          answer.element.appendChild(context);
        }
      }
      break;
    }
    case 'failed': {
      const answer = answers.get(message.id);
      const element = document.createElement('div');
      element.className = 'error';
      element.textContent = message.message;
      if (answer !== undefined) {
        answer.done = true;
        answer.element.dataset.done = 'true';
        answer.element.querySelector('.pending')?.remove();
        answer.element.appendChild(element);
      } else {
        append(element);
      }
      break;
    }
    case 'busy':
      setBusy(message.busy);
      break;
  }
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (text === '' || sendButton.disabled) {
    return;
  }
  vscodeApi.postMessage({ type: 'send', text });
  input.value = '';
});

input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stopButton.addEventListener('click', () => vscodeApi.postMessage({ type: 'stop' }));

setBusy(false);
vscodeApi.postMessage({ type: 'ready' });
