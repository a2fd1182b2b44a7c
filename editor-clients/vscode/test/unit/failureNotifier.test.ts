import { describe, expect, it, vi } from 'vitest';
import { FailureNotifier, OPEN_SETTINGS, RESTART, SHOW_LOG } from '../../src/failureNotifier';

function actions(choice: string | undefined) {
  return {
    showError: vi.fn(async (..._args: string[]) => choice),
    showLog: vi.fn(),
    openSettings: vi.fn(),
    restart: vi.fn(),
  };
}
const problem = { problem: 'The server was not found.', fix: 'Install it with pip.' };

describe('FailureNotifier', () => {
  it('shows one notification with the fix and a Show log button, however often the failure surfaces', async () => {
    const ui = actions(SHOW_LOG);
    const notifier = new FailureNotifier(ui);
    await notifier.notify(problem, true);
    await notifier.notify(problem, true);
    await notifier.notify({ problem: 'Connection closed', fix: '' }, false);
    expect(ui.showError).toHaveBeenCalledTimes(1);
    expect(ui.showError).toHaveBeenCalledWith('ByteBuddy: The server was not found. Install it with pip.', SHOW_LOG, OPEN_SETTINGS);
    expect(ui.showLog).toHaveBeenCalledTimes(1);
  });

  it('offers a restart for crashes and runs it when chosen', async () => {
    const ui = actions(RESTART);
    await new FailureNotifier(ui).notify(problem, false);
    expect(ui.showError.mock.calls[0]).toContain(RESTART);
    expect(ui.restart).toHaveBeenCalled();
  });

  it('notifies again after an explicit restart', async () => {
    const ui = actions(undefined);
    const notifier = new FailureNotifier(ui);
    await notifier.notify(problem, true);
    notifier.rearm();
    await notifier.notify(problem, true);
    expect(ui.showError).toHaveBeenCalledTimes(2);
    expect(ui.showLog).not.toHaveBeenCalled();
  });
});
