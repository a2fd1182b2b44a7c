import { LaunchProblem } from './serverLaunch';

export const SHOW_LOG = 'Show log';
export const OPEN_SETTINGS = 'Open settings';
export const RESTART = 'Restart server';

export interface FailureActions {
  showError(message: string, ...buttons: string[]): PromiseLike<string | undefined>;
  showLog(): void;
  openSettings(): void;
  restart(): void;
}

/**
 * Shows at most one notification per server start attempt, however many ways the failure
 * surfaces (spawn error, closed connection, rejected start), so users see one clear message.
 */
export class FailureNotifier {
  private shown = false;

  constructor(private readonly actions: FailureActions) {}

  /** Allows the next failure to notify again (an explicit restart or a settings change). */
  rearm(): void {
    this.shown = false;
  }

  get hasNotified(): boolean {
    return this.shown;
  }

  async notify(explanation: LaunchProblem, offerSettings: boolean): Promise<void> {
    if (this.shown) {
      return;
    }
    this.shown = true;
    const buttons = [SHOW_LOG, offerSettings ? OPEN_SETTINGS : RESTART];
    const choice = await this.actions.showError(`ByteBuddy: ${explanation.problem} ${explanation.fix}`, ...buttons);
    if (choice === SHOW_LOG) {
      this.actions.showLog();
    } else if (choice === OPEN_SETTINGS) {
      this.actions.openSettings();
    } else if (choice === RESTART) {
      this.actions.restart();
    }
  }
}
