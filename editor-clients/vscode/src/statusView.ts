import { EndpointView, FAILED_ENDPOINT_STATES, ServerState, STARTING_ENDPOINT_STATES, StatusParams, UsageTotals } from './protocol';
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

export type ShownState = ServerState | 'starting' | 'stopped' | 'failed' | 'paused';

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
  resumeEndpoint: 'bytebuddy.endpoint.resume',
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
  const endpointView = server?.endpoint !== undefined ? presentEndpoint(server.endpoint, server) : undefined;
  if (endpointView !== undefined) {
    return endpointView;
  }
  const state: ServerState = server?.state ?? 'ready';
  let detail = server?.message ? server.message : '';
  const model = server?.model ? ` (${server.model})` : '';
  if (server?.endpoint !== undefined && state === 'ready') {
    const line = endpointLine(server.endpoint);
    detail = detail === '' ? line : `${detail}. ${line}`;
  }
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

/**
 * An endpoint that cannot answer (paused, starting, failed) outranks the server state: it
 * is why nothing happens, and clicking a paused one resumes it.
 */
function presentEndpoint(endpoint: EndpointView, server: StatusParams): StatusPresentation | undefined {
  const name = endpoint.name;
  const model = server.model ?? 'the model';
  if (endpoint.state === 'paused') {
    const why = endpoint.autoPaused ? ' (paused after idle time)' : '';
    return make(
      'paused',
      `$(debug-pause) ByteBuddy: ${name} paused`,
      `Inference Endpoint ${name} is paused${why}: ${model} cannot answer.\nClick to resume it (it bills while running).`,
      STATUS_COMMANDS.resumeEndpoint,
      'warning',
    );
  }
  if (STARTING_ENDPOINT_STATES.includes(endpoint.state)) {
    return make(
      'loading',
      `$(loading~spin) ByteBuddy: ${name} starting`,
      `Inference Endpoint ${name} is ${endpoint.state}; ${model} answers once it runs.`,
      STATUS_COMMANDS.showLog,
      'warning',
    );
  }
  if (FAILED_ENDPOINT_STATES.includes(endpoint.state)) {
    return make(
      'error',
      `$(error) ByteBuddy: ${name} ${endpoint.state}`,
      withDetail(`Inference Endpoint ${name} is ${endpoint.state}`, endpoint.message ?? '') + '\nSee its logs on huggingface.co. Click to show the log.',
      STATUS_COMMANDS.showLog,
      'error',
    );
  }
  return undefined;
}

/** One line about a usable endpoint, for the ready tooltip. */
export function endpointLine(endpoint: EndpointView): string {
  if (endpoint.state === 'scaledToZero') {
    return `Inference Endpoint ${endpoint.name} is scaled to zero: the next request wakes it`;
  }
  const idle = endpoint.idlePauseMinutes !== undefined ? `, pauses after ${endpoint.idlePauseMinutes} idle min` : '';
  return `Inference Endpoint ${endpoint.name}: ${endpoint.state}${idle}`;
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
