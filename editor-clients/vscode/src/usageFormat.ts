// Pure formatting of `bytebuddy/usage` reports and budgets (testable without VS Code).
import { BudgetStatus, USAGE_GROUPINGS, UsageGrouping, UsageReport, UsageRow, UsageTotals } from './protocol';

export const SHOW_USAGE_COMMAND = 'bytebuddy.showUsage';

export const PERIODS: ReadonlyArray<{ since: string; label: string }> = [
  { since: 'today', label: 'Today' },
  { since: '7d', label: 'Last 7 days' },
  { since: '30d', label: 'Last 30 days' },
  { since: 'month', label: 'This month' },
];

export interface UsageQuery {
  since: string;
  by: UsageGrouping;
}

export const DEFAULT_QUERY: UsageQuery = { since: '7d', by: 'model' };

/** A command argument (from a link in the view) as a query; anything odd → the default. */
export function toQuery(arg: unknown): UsageQuery {
  const given = (typeof arg === 'object' && arg !== null ? arg : {}) as Partial<Record<keyof UsageQuery, unknown>>;
  const since = PERIODS.some((p) => p.since === given.since) ? (given.since as string) : DEFAULT_QUERY.since;
  const by = USAGE_GROUPINGS.includes(given.by as UsageGrouping) ? (given.by as UsageGrouping) : DEFAULT_QUERY.by;
  return { since, by };
}

export function formatUsd(usd: number): string {
  if (usd === 0) {
    return '$0';
  }
  return usd < 1 ? `$${usd.toFixed(4)}` : `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** "$0.0123 · 12,345 tokens · 12 requests" (`~`: some counts are estimates). */
export function usageSummary(total: UsageTotals): string {
  const tokens = total.prompt_tokens + total.completion_tokens;
  const approx = total.estimated ? '~' : '';
  return `${formatUsd(total.cost_usd)} · ${approx}${count(tokens)} tokens · ${count(total.requests)} request${total.requests === 1 ? '' : 's'}`;
}

export function budgetSummary(budget: BudgetStatus): string {
  const verb = budget.state === 'exceeded' ? (budget.onExceed === 'warn' ? 'over budget' : budget.onExceed === 'block' ? 'blocked' : 'autocomplete paused') : '';
  return `Budget: ${budget.message}${verb ? ` (${verb})` : ''}`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function commandLink(query: UsageQuery, label: string, current: boolean): string {
  const uri = `command:${SHOW_USAGE_COMMAND}?${encodeURIComponent(JSON.stringify([query]))}`;
  return current ? `<strong class="current">${escapeHtml(label)}</strong>` : `<a href="${escapeHtml(uri)}">${escapeHtml(label)}</a>`;
}

function rowKey(row: UsageRow, by: UsageGrouping): string {
  return by === 'day' ? (row.day ?? '') : row[by];
}

/** The usage view's HTML: period and grouping links (command URIs, no script) and a table. */
export function renderUsageHtml(report: UsageReport, query: UsageQuery, nonce: string, budget?: BudgetStatus): string {
  const periods = PERIODS.map((p) => commandLink({ ...query, since: p.since }, p.label, p.since === query.since)).join(' · ');
  const groupings = USAGE_GROUPINGS.map((by) => commandLink({ ...query, by }, by, by === query.by)).join(' · ');
  const cells = (first: string, t: UsageTotals): string => {
    const approx = t.estimated ? '~' : '';
    return `<td>${escapeHtml(first)}</td><td>${count(t.requests)}</td><td>${approx}${count(t.prompt_tokens)}</td><td>${approx}${count(t.completion_tokens)}</td><td>${formatUsd(t.cost_usd)}</td><td>${count(t.errors)}</td><td>${count(t.cache_hits)}</td>`;
  };
  const body = report.rows.map((row) => `<tr class="row">${cells(rowKey(row, query.by), row)}</tr>`).join('\n');
  const empty = report.rows.length === 0 ? '<p class="empty">No calls recorded in this period.</p>' : '';
  const note = report.total.estimated ? '<p class="note">~ includes estimated token counts (the server did not report them).</p>' : '';
  const budgetLine = budget !== undefined ? `<p class="budget ${escapeHtml(budget.state)}">${escapeHtml(budgetSummary(budget))}</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; }
  table { border-collapse: collapse; margin-top: 0.5em; }
  th, td { padding: 0.25em 0.8em; text-align: right; border-bottom: 1px solid var(--vscode-panel-border); }
  th:first-child, td:first-child { text-align: left; }
  tfoot td { font-weight: bold; }
  .current { color: var(--vscode-textLink-activeForeground); }
  .budget.warning { color: var(--vscode-editorWarning-foreground); }
  .budget.exceeded { color: var(--vscode-editorError-foreground); }
  .note, .empty { color: var(--vscode-descriptionForeground); }
</style>
<title>ByteBuddy usage</title>
</head>
<body>
<h2>ByteBuddy usage</h2>
<p id="since">Since ${escapeHtml(report.since)}</p>
<p id="periods">${periods}</p>
<p id="groupings">Group by: ${groupings}</p>
${budgetLine}
<table id="usage">
<thead><tr><th>${escapeHtml(query.by)}</th><th>requests</th><th>prompt tokens</th><th>completion tokens</th><th>cost</th><th>errors</th><th>cached</th></tr></thead>
<tbody>
${body}
</tbody>
<tfoot><tr class="total">${cells('total', report.total)}</tr></tfoot>
</table>
${empty}${note}
</body>
</html>`;
}
