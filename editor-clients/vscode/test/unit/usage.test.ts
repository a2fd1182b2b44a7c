import { describe, expect, it } from 'vitest';
import type { BudgetStatus, UsageReport } from '../../src/protocol';
import { presentStatus } from '../../src/statusView';
import { DEFAULT_QUERY, budgetSummary, formatUsd, renderUsageHtml, toQuery, usageSummary } from '../../src/usageFormat';

const total = { requests: 12, prompt_tokens: 12000, completion_tokens: 345, cost_usd: 0.0123, estimated: false, errors: 1, cache_hits: 4 };
const report: UsageReport = {
  rows: [
    { ...total, model: 'qwen<script>', provider: 'together', role: 'chat', operation: 'chat' },
    { ...total, model: 'fim', provider: 'tgi', role: 'autocomplete', operation: 'autocomplete', estimated: true, cost_usd: 0 },
  ],
  total: { ...total, requests: 24, estimated: true },
  by: 'model',
  since: '2026-12-01T00:00:00+00:00',
};
const budget: BudgetStatus = {
  state: 'warning',
  percent: 83,
  period: 'day',
  message: '83 % of the daily budget of 200,000 tokens for all models',
  onExceed: 'pause-autocomplete',
  tokens: { used: 166000, limit: 200000 },
};

describe('usage formatting', () => {
  it('formats money for small and large amounts', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(0.0123)).toBe('$0.0123');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
  });

  it('summarises a day in one line', () => {
    expect(usageSummary(total)).toBe('$0.0123 · 12,345 tokens · 12 requests');
    expect(usageSummary({ ...total, requests: 1, estimated: true })).toContain('~12,345 tokens · 1 request');
  });

  it('says what an exhausted budget does', () => {
    expect(budgetSummary(budget)).toBe('Budget: 83 % of the daily budget of 200,000 tokens for all models');
    expect(budgetSummary({ ...budget, state: 'exceeded', percent: 100 })).toContain('(autocomplete paused)');
    expect(budgetSummary({ ...budget, state: 'exceeded', onExceed: 'block' })).toContain('(blocked)');
  });

  it('reads only known queries from command links', () => {
    expect(toQuery({ since: 'today', by: 'provider' })).toEqual({ since: 'today', by: 'provider' });
    expect(toQuery({ since: '999y', by: 'secrets' })).toEqual(DEFAULT_QUERY);
    expect(toQuery(undefined)).toEqual(DEFAULT_QUERY);
  });

  it('renders a table with escaped values, links for other queries and no script', () => {
    const html = renderUsageHtml(report, { since: '7d', by: 'model' }, 'NONCE', budget);
    expect(html).toContain('qwen&lt;script&gt;');
    expect(html).not.toContain('<script');
    expect(html).toContain("default-src 'none'");
    expect(html).toContain('command:bytebuddy.showUsage?');
    const links = [...html.matchAll(/href="command:bytebuddy\.showUsage\?([^"]+)"/g)].map((m) => JSON.parse(decodeURIComponent(m[1])));
    expect(links).toContainEqual([{ since: 'today', by: 'model' }]);
    expect(links).toContainEqual([{ since: '7d', by: 'provider' }]);
    expect(links).toHaveLength(3 + 4); // the other periods and groupings
    expect(html).toContain('<strong class="current">Last 7 days</strong>');
    expect(html).toMatch(/<td>fim<\/td><td>12<\/td><td>~12,000<\/td>/);
    expect(html).toMatch(/<tr class="total"><td>total<\/td><td>24<\/td>/);
    expect(html).toContain('83 % of the daily budget');
  });

  it('says so when nothing was recorded', () => {
    const html = renderUsageHtml({ ...report, rows: [] }, DEFAULT_QUERY, 'N');
    expect(html).toContain('No calls recorded');
  });
});

describe('status tooltip', () => {
  it("adds today's spend and the budget below the state", () => {
    const view = presentStatus({
      connection: 'running',
      server: { state: 'ready', message: 'ready', budget },
      autocompleteEnabled: true,
      usageToday: total,
    });
    const lines = view.tooltip.split('\n');
    expect(lines).toContain('Today: $0.0123 · 12,345 tokens · 12 requests');
    expect(lines).toContain(`Budget: ${budget.message}`);
    expect(view.accessibilityLabel).not.toContain('Today');
    expect(view.background).toBeUndefined();
  });

  it('warns in the status bar once a budget is used up', () => {
    const view = presentStatus({
      connection: 'running',
      server: { state: 'ready', message: 'ready', budget: { ...budget, state: 'exceeded', percent: 100 } },
      autocompleteEnabled: true,
    });
    expect(view.background).toBe('warning');
  });

  it('shows no spend when the server is not running', () => {
    const view = presentStatus({ connection: 'stopped', autocompleteEnabled: true, usageToday: total });
    expect(view.tooltip).not.toContain('Today');
  });
});
