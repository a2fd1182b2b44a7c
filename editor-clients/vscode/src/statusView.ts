import { ServerState, StatusParams, UsageTotals } from './protocol';
import { budgetSummary, usageSummary } from './usageFormat';

/** Client-side lifecycle of the server process, before any `bytebuddy/status` arrives. */
export type ConnectionState = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusInputs {
  connection: ConnectionState;
  /** Last `bytebuddy/status` from the server (cleared when the server restarts). */
  server?: StatusParams;
  autocompleteEnabled: boolean;
  /** Today's totals from `bytebuddy/usage` (refreshed after requests). */
  usageToday?: UsageTotals;
}

export type ShownState = ServerState | 'starting' | 'stopped' | 'failed';

export interface StatusPresentation {
  state: ShownState;
  text: string;
  tooltip: string;
  /** Command run when the item is clicked. */
  command: string;
  background?: 'error' | 'warning';
  accessibilityLabel: string;
}

export const STATUS_COMMANDS = {
  showLog: 'bytebuddy.showLog',
  toggleAutocomplete: 'bytebuddy.toggleAutocompleteSetting',
  openSettings: 'bytebuddy.openSettings',
} as const;

/** What the status bar shows; pure so it can be tested without VS Code. */
export function presentStatus(inputs: StatusInputs): StatusPresentation {
  const view = presentState(inputs);
  if (inputs.connection !== 'running') {
    return view;
  }
  // Spend and budget go below the state line (the accessibility label keeps the first line).
  const extra: string[] = [];
  if (inputs.usageToday !== undefined) {
    extra.push(`Today: ${usageSummary(inputs.usageToday)}`);
  }
  const budget = inputs.server?.budget;
  if (budget !== undefined) {
    extra.push(budgetSummary(budget));
  }
  if (extra.length === 0) {
    return view;
  }
  const background = view.background ?? (budget?.state === 'exceeded' ? 'warning' : undefined);
  return { ...view, tooltip: `${view.tooltip}\n\n${extra.join('\n')}`, background };
}

function presentState(inputs: StatusInputs): StatusPresentation {
  const { connection, server } = inputs;
  if (connection === 'starting') {
    return make('starting', '$(sync~spin) ByteBuddy', 'Starting the ByteBuddy language server…', STATUS_COMMANDS.showLog);
  }
  if (connection === 'failed') {
    return make('failed', '$(error) ByteBuddy', 'The ByteBuddy language server is not running. Click to show the log.', STATUS_COMMANDS.showLog, 'error');
  }
  if (connection === 'stopped') {
    return make('stopped', '$(debug-disconnect) ByteBuddy', 'The ByteBuddy language server is stopped. Click to show the log.', STATUS_COMMANDS.showLog);
  }
  const state: ServerState = server?.state ?? 'ready';
  const detail = server?.message ? server.message : '';
  const model = server?.model ? ` (${server.model})` : '';
  switch (state) {
    case 'busy':
      return make('busy', '$(sync~spin) ByteBuddy', withDetail('Waiting for the model' + model, detail), STATUS_COMMANDS.showLog);
    case 'loading':
      return make(
        'loading',
        `$(loading~spin) ByteBuddy: loading${server?.model ? ' ' + shortModel(server.model) : ''}`,
        withDetail('The model is loading on the provider' + model, detail),
        STATUS_COMMANDS.showLog,
        'warning',
      );
    case 'error':
      return make('error', '$(error) ByteBuddy', withDetail('Error' + model, detail) + '\nClick to show the log.', STATUS_COMMANDS.showLog, 'error');
    case 'unconfigured':
      return make(
        'unconfigured',
        '$(gear) ByteBuddy: not configured',
        withDetail('No model configuration', detail) + '\nClick to open the ByteBuddy settings.',
        STATUS_COMMANDS.openSettings,
        'warning',
      );
    case 'disabled':
      return make('disabled', '$(circle-slash) ByteBuddy', withDetail('Autocomplete is off', detail) + '\nClick to turn it on.', STATUS_COMMANDS.toggleAutocomplete);
    case 'ready':
    default:
      if (!inputs.autocompleteEnabled) {
        return make('disabled', '$(circle-slash) ByteBuddy', 'Autocomplete is off. Click to turn it on.', STATUS_COMMANDS.toggleAutocomplete);
      }
      return make('ready', '$(sparkle) ByteBuddy', withDetail('Ready' + model, detail) + '\nClick to turn autocomplete off.', STATUS_COMMANDS.toggleAutocomplete);
  }
}

function make(
  state: ShownState,
  text: string,
  tooltip: string,
  command: string,
  background?: 'error' | 'warning',
): StatusPresentation {
  return { state, text, tooltip, command, background, accessibilityLabel: `ByteBuddy ${state}: ${tooltip.split('\n')[0]}` };
}

function withDetail(summary: string, detail: string): string {
  return detail === '' || detail === summary ? summary : `${summary}: ${detail}`;
}

/** `bigcode/starcoder2-3b` → `starcoder2-3b`: the status bar has little room. */
function shortModel(model: string): string {
  const slash = model.lastIndexOf('/');
  return slash >= 0 ? model.slice(slash + 1) : model;
}
