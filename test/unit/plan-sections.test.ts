// An outside system's part of a plan (billing, the hooks, or one added later) is a PlanSection:
// the CLI's text and the console's page render any section without knowing the system.
import { describe, expect, it } from 'vitest';
import { Chalk } from 'chalk';
import { planView, renderPlan } from '../../src/output/plan.js';
import { planSection } from '../../src/server/console/pages.js';
import { outsidePlan, NO_OUTSIDE } from '../../src/pipeline/outside.js';
import { FakeStore } from '../support/fakes.js';
import { bufferIO } from '../support/buffer-io.js';

const row = { id: 1, customerId: 'cust_abc123', email: '', companyName: '', deploymentStatus: 'deployed' as const, instanceNamespace: 'customer-abc123', instanceUrl: 'https://x', deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: '', updatedAt: '' };

function withSections() {
  const plan = planView(null, row, 'cust_abc123', 'customer-abc123', true);
  plan.outside = [
    { id: 'crm', label: 'CRM', lines: ['close account 4711 in the CRM', 'archive its tickets'] },
    { id: 'dns', label: 'DNS', lines: ['remove abc123.example.com'], refusal: 'the zone is locked' },
  ];
  return plan;
}

describe('plan sections of outside systems', () => {
  it('the CLI shows every section under its label, a refused one in red', () => {
    const text = renderPlan(withSections(), bufferIO().io.chalk).text;
    expect(text).toMatch(/CRM\s+close account 4711 in the CRM\n\s+archive its tickets/);
    expect(text).toMatch(/DNS\s+remove abc123\.example\.com/);
    const colored = renderPlan(withSections(), new Chalk({ level: 1 })).text;
    expect(colored).toContain('\u001b[31mremove abc123.example.com');
    expect(colored).not.toContain('\u001b[31marchive its tickets');
  });

  it('the console shows the same lines under the same labels', () => {
    const page = String(planSection({ plan: withSections(), target: { database: 'db' } }));
    expect(page).toContain('<dt>CRM</dt>');
    expect(page).toContain('<li>archive its tickets</li>');
    expect(page).toContain('<dt>DNS</dt>');
  });

  it('no outside system configured: no section', async () => {
    expect((await outsidePlan(NO_OUTSIDE, new FakeStore(), 'cust_abc123', { scheduled: false, simulated: false })).outside).toEqual([]);
  });
});
