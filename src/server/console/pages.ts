/**
 * The console's pages as functions of data: the customers list, a customer with its deletion plan
 * (the PlanView of `delete --dry-run`, src/pipeline/plan.ts) and the delete dialog, the jobs list,
 * a job with its live part, the cleanup-rbac report. Rendering only: the routes (index.ts) fetch,
 * check and decide.
 */
import type { CustomerRow } from '../../adapters/store.js';
import { deletionStarted, isCancelled, isScheduled, kindFacts, stateName, type Job } from '../../domain/job.js';
import { rowStatusName } from '../../domain/row-status.js';
import type { PlanSection, PlanView } from '../../pipeline/plan.js';
import type { CleanupReport } from '../../jobs/kinds/cleanup-rbac.js';
import { formatDuration, formatRetention } from '../../domain/duration.js';
import { html, query, statusBadge, time, type Raw } from './html.js';

export interface Viewer {
  role: 'admin' | 'viewer' | 'owner';
  csrf: string;
}

const csrfField = (v: Viewer) => html`<input type="hidden" name="_csrf" value="${v.csrf}">`;

// ---- sign-in ---------------------------------------------------------------------------------

/** Why the sign-in page is shown again (its `?error=`): fixed words, nothing from the request. */
export const LOGIN_ERRORS = {
  token: 'Unknown or wrong API token.',
  wait: 'Too many failed sign-ins from this address: wait a minute, then try again.',
  origin: "This sign-in did not come from the console's own address, so it was refused. Behind a proxy, custctl serve needs --public-url https://… (or --trust-proxy): see the console's documentation.",
  expired: 'Not signed in, or the session has ended: sign in again.',
  refused: 'That request was refused: sign in first.',
} as const;
export type LoginError = keyof typeof LOGIN_ERRORS;

export function loginPage(o: { next: string; error?: LoginError }): Raw {
  const error = o.error ? LOGIN_ERRORS[o.error] : undefined;
  return html`<section class="narrow">
<h1>Sign in</h1>
<p>Paste an API token (admin, viewer, or an account owner's). It is exchanged for a session that
ends when you sign out or after a while without use; the token itself is not kept in the browser.</p>
${error ? html`<p class="flash error" role="alert" id="login-error">${error}</p>` : ''}
<form method="post" action="/console/login" class="stack">
  <input type="hidden" name="next" value="${o.next}">
  <label for="token">API token</label>
  <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required autofocus
    ${error ? html`aria-describedby="login-error" aria-invalid="true"` : ''}>
  <button type="submit" class="primary">Sign in</button>
</form>
</section>`;
}

// ---- customers -------------------------------------------------------------------------------

export interface CustomerListView {
  rows: CustomerRow[];
  total: number;
  page: number;
  pages: number;
  q: string;
  status: string;
  statuses: readonly string[];
  /** now (ms): whether a scheduled deletion is still before its due time */
  now?: number;
}

/** Previous / Page n of m / Next, when there is more than one page. */
function pager(page: number, pages: number, link: (page: number) => string): Raw | string {
  return pages > 1
    ? html`<nav class="pager" aria-label="Pages">
  ${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">Previous</a>` : ''}
  <span>Page ${page} of ${pages}</span>
  ${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next</a>` : ''}
</nav>`
    : '';
}

export function customersPage(v: CustomerListView): Raw {
  const link = (page: number) => `/${query({ q: v.q, status: v.status, page: page > 1 ? page : undefined })}`;
  return html`<h1>Customers</h1>
<form method="get" action="/" class="filters" role="search">
  <div><label for="q">Search</label>
  <input id="q" name="q" type="search" value="${v.q}" placeholder="ID, company, e-mail or namespace"></div>
  <div><label for="status">Status</label>
  <select id="status" name="status">
    <option value="">any</option>
    ${v.statuses.map((s) => html`<option value="${s}"${s === v.status ? html` selected` : ''}>${s}</option>`)}
  </select></div>
  <button type="submit">Filter</button>
</form>
<p class="muted" id="count">${v.total} customer${v.total === 1 ? '' : 's'}${v.q || v.status ? ' match' : ''}</p>
${v.rows.length === 0
    ? html`<p>No customers${v.q || v.status ? ' match these filters' : ''}.</p>`
    : html`<div class="table-wrap"><table class="cards" aria-describedby="count">
<thead><tr><th scope="col">Customer</th><th scope="col">Company</th><th scope="col">Status</th><th scope="col">Namespace</th><th scope="col">Scheduled deletion</th><th scope="col">Updated</th></tr></thead>
<tbody>
${v.rows.map((r) => html`<tr>
  <th scope="row" data-label="Customer"><a href="/console/customers/${r.customerId}">${r.customerId}</a></th>
  <td data-label="Company">${r.companyName || '-'}</td>
  <td data-label="Status">${statusBadge(rowStatusName(r, v.now ?? 0))}</td>
  <td data-label="Namespace">${r.instanceNamespace || html`<span class="muted">-</span>`}</td>
  <td data-label="Scheduled deletion">${r.deploymentStatus === 'deleting' && r.deletionScheduledAt ? time(r.deletionScheduledAt) : html`<span class="muted">-</span>`}</td>
  <td data-label="Updated">${time(r.updatedAt)}</td>
</tr>`)}
</tbody></table></div>`}
${pager(v.page, v.pages, link)}`;
}

// ---- one customer ----------------------------------------------------------------------------

export interface ConsolePlan {
  plan: PlanView;
  target: { context?: string; server?: string; database: string; /** the customer's cluster (its name in the fleet) */ cluster?: string };
}

export interface CustomerPageView {
  row: CustomerRow;
  jobs: Job[];
  /** the plan, or why there is none (already being deleted, cluster unreachable…) */
  plan: ConsolePlan | { error: string };
  viewer: Viewer;
  /** the site's retention period (ms) and an owner's minimum */
  retention: { defaultMs: number; ownerMinMs: number };
  /** the delete dialog opens with this refusal (a wrong ID typed) */
  deleteError?: string;
  /** what was typed, shown again */
  typed?: string;
  after?: string;
  /** the deletion that holds the row is not running and this principal may cancel it (src/jobs/cancel.ts) */
  cancellable?: boolean;
  /** ms: whether a scheduled deletion is still before its due time, the durations of running jobs */
  now?: number;
}

function dataLossWords(p: NonNullable<PlanView['pvcs']>[number]): string {
  if (!p.volume) return 'No volume is bound to it: no data is lost.';
  if (p.reclaimPolicy === 'Delete') return `Its volume ${p.volume} and all the data on it are deleted with the namespace. This cannot be undone.`;
  return `Its volume ${p.volume} and the data stay on the cluster (reclaim policy ${p.reclaimPolicy ?? 'unknown'}): delete the PersistentVolume by hand when it is no longer needed.`;
}

/**
 * The plan. `internals` (admins and viewers): the cluster, the database and the backup location
 * too; an owner reads what happens to its own customer only.
 */
export function planSection(cp: ConsolePlan, headingLevel: 2 | 3 = 2, internals = true): Raw {
  const p = cp.plan;
  const h = (text: string) => (headingLevel === 2 ? html`<h2>${text}</h2>` : html`<h3>${text}</h3>`);
  const sub = (text: string) => (headingLevel === 2 ? html`<h3>${text}</h3>` : html`<h4>${text}</h4>`);
  const total = (p.objects ?? []).reduce((n, o) => n + o.count, 0);
  const objects = [...(p.objects ?? [])].sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind));
  return html`<section class="plan" aria-label="Deletion plan">
${h('What a deletion does')}
<dl class="facts">
  ${internals ? html`<dt>Cluster</dt><dd>${p.simulated ? 'not contacted (SIMULATE_K8S_DEPLOYMENT=true: only the row changes)' : html`${cp.target.cluster ? html`<code>${cp.target.cluster}</code>: ` : ''}context <code>${cp.target.context ?? '-'}</code> (${cp.target.server ?? '-'})`}</dd>
  <dt>Database</dt><dd><code>${cp.target.database}</code></dd>` : ''}
  <dt>Namespace</dt><dd>${p.namespaceFound === null
    ? html`<code>${p.namespace}</code> (not inspected)`
    : p.namespaceFound
      ? html`<strong class="danger">delete</strong> <code>${p.namespace}</code> with ${total} object${total === 1 ? '' : 's'}`
      : html`<code>${p.namespace}</code> not found (already gone)`}</dd>
  <dt>Database row</dt><dd>${p.row.change}</dd>
  <dt>Backup</dt><dd>${p.backup
    ? html`written and verified first${internals ? html` to <code>${p.backup.url}</code>` : ''}: ${p.backup.covers}${p.backup.encryptedTo?.length ? html`<br>encrypted to age ${p.backup.encryptedTo.map((r) => `${r.slice(0, 12)}…${r.slice(-6)}`).join(', ')} (custctl cannot read it back)` : ''}${p.backup.notCovered.length ? html`<ul>${p.backup.notCovered.map((n) => html`<li>not in the backup: ${n}</li>`)}</ul>` : ''}`
    : p.backup === null ? (internals ? html`none (the server has no CUSTCTL_BACKUP_URL)` : 'none') : html`<span class="muted">-</span>`}</dd>
  ${p.volumeSnapshots ? html`<dt>Volume snapshots</dt><dd>${p.volumeSnapshots.refused
    ? html`<strong class="danger">refused</strong>: ${p.volumeSnapshots.refused} (the deletion will be refused, nothing deleted)`
    : html`a VolumeSnapshot of every bound PVC is taken and waited for first (class <code>${p.volumeSnapshots.class}</code>, ${p.volumeSnapshots.deletionPolicy ?? '?'}${p.volumeSnapshots.driver ? html`, driver ${p.volumeSnapshots.driver}` : ''})`}</dd>` : ''}
  ${outsideSections(p.outside ?? []).map((g) => html`<dt>${g.label}</dt><dd><ul class="${g.id}">${g.lines.map((l) => html`<li>${l}</li>`)}</ul></dd>`)}
</dl>
${p.namespaceFound === null ? '' : html`
${sub('Helm releases')}
${p.releases.length === 0 ? html`<p>None found.</p>` : html`<ul>${p.releases.map((r) => html`<li>${r.removal === 'namespace' ? html`<strong class="danger">removed with the namespace</strong>` : html`<strong class="danger">uninstall</strong>`} <code>${r.name}</code> (${r.status}, ${r.chart}): ${r.removal === 'namespace' ? html`${r.why}, no helm process` : html`helm uninstall: ${r.why}`}
  ${r.unreadable.length ? html`<ul>${r.unreadable.map((u) => html`<li class="danger">unknown: ${u} (treated as possibly cluster-scoped: the deletion refuses this release)</li>`)}</ul>` : ''}
  ${r.clusterScoped.length ? html`<ul>${r.clusterScoped.map((o) => html`<li class="danger">cluster-scoped: ${o} (the deletion refuses this release)</li>`)}</ul>` : ''}
  ${r.outsideNamespace.length ? html`<ul>${r.outsideNamespace.map((o) => html`<li class="danger">outside the namespace: ${o} (the deletion refuses this release)</li>`)}</ul>` : ''}</li>`)}</ul>`}
${sub('Objects by kind')}
${objects.length === 0 ? html`<p>None.</p>` : html`<div class="table-wrap"><table class="compact"><thead><tr><th scope="col">Kind</th><th scope="col">Resource</th><th scope="col" class="num">Count</th></tr></thead>
<tbody>${objects.map((o) => html`<tr><td data-label="Kind">${o.kind}</td><td data-label="Resource"><code>${o.resource}</code></td><td data-label="Count" class="num">${o.count}</td></tr>`)}</tbody></table></div>`}
${sub('Persistent volume claims')}
${(p.pvcs ?? []).length === 0 ? html`<p>None: no volume data is involved.</p>` : html`<div class="table-wrap"><table><thead><tr><th scope="col">PVC</th><th scope="col">Size</th><th scope="col">Volume</th><th scope="col">Reclaim policy</th><th scope="col">Data</th></tr></thead>
<tbody>${(p.pvcs ?? []).map((v) => html`<tr class="${v.reclaimPolicy === 'Delete' ? 'loss' : ''}"><td data-label="PVC"><code>${v.name}</code></td><td data-label="Size">${v.storage ?? '-'}</td><td data-label="Volume">${v.volume ?? '-'} (${v.phase})</td><td data-label="Reclaim policy">${v.reclaimPolicy ?? '-'}</td><td data-label="Data">${dataLossWords(v)}${v.coverageNote ? html`<br><span class="${v.coverage === 'not-covered' ? 'danger' : ''}">${v.coverageNote}</span>` : ''}</td></tr>`)}</tbody></table></div>`}
${sub('Cluster RBAC')}
${p.rbac.delete.length + p.rbac.keptByPolicy.length + p.rbac.keptUnowned.length === 0 ? html`<p>None owned.</p>` : html`<ul>
  ${p.rbac.delete.map((o) => html`<li><strong class="danger">delete</strong> ${o.kind} <code>${o.name}</code> (${o.rule})</li>`)}
  ${p.rbac.keptByPolicy.map((o) => html`<li>keep ${o.kind} <code>${o.name}</code> (helm.sh/resource-policy: keep)</li>`)}
  ${p.rbac.keptUnowned.map((o) => html`<li>keep ${o.kind} <code>${o.name}</code> (binds an owned role, carries no ownership mark)</li>`)}
</ul>`}`}
</section>`;
}

function retentionWords(ms: number): string {
  return ms === 0 ? 'now (no retention period)' : `after ${formatRetention(ms)} (the instance is suspended until then)`;
}

export function customerPage(v: CustomerPageView): Raw {
  const r = v.row;
  const canDelete = (v.viewer.role === 'admin' || v.viewer.role === 'owner') && 'plan' in v.plan;
  const scheduled = r.deploymentStatus === 'deleting' && r.deletionScheduledAt;
  const canCancel = v.cancellable === true;
  const owner = v.viewer.role === 'owner';
  const defaultAfter = owner ? Math.max(v.retention.defaultMs, v.retention.ownerMinMs) : v.retention.defaultMs;
  return html`<h1>${r.customerId}</h1>
<dl class="facts">
  <dt>Company</dt><dd>${r.companyName || '-'} (${r.email || '-'})</dd>
  <dt>Status</dt><dd>${statusBadge(rowStatusName(r, v.now ?? 0))}${r.deletionJobId ? html` deletion job <a href="/console/jobs/${r.deletionJobId}">${r.deletionJobId}</a>` : ''}</dd>
  ${scheduled ? html`<dt>Scheduled deletion</dt><dd>${time(r.deletionScheduledAt)}: the instance is suspended; nothing is deleted before then</dd>` : ''}
  <dt>Namespace</dt><dd>${r.instanceNamespace ? html`<code>${r.instanceNamespace}</code>` : '-'}</dd>
  <dt>URL</dt><dd>${r.instanceUrl || '-'}</dd>
  <dt>Updated</dt><dd>${time(r.updatedAt)}</dd>
</dl>
<div class="actions">
${canDelete ? html`<button type="button" class="danger" data-dialog="delete-dialog" aria-haspopup="dialog">Delete customer…</button>` : ''}
${canCancel ? html`<form method="post" action="/console/customers/${r.customerId}/cancel-deletion">${csrfField(v.viewer)}<button type="submit">${scheduled ? 'Cancel the scheduled deletion' : 'Cancel the deletion'}</button></form>` : ''}
</div>
${'plan' in v.plan ? planSection(v.plan, 2, !owner) : html`<section class="plan"><h2>What a deletion does</h2><p class="flash error">${v.plan.error}</p></section>`}
<section>
<h2>Latest jobs</h2>
${jobsTable(v.jobs, v.viewer, false, v.now)}
</section>
${canDelete && 'plan' in v.plan ? html`<dialog id="delete-dialog" aria-labelledby="delete-title"${v.deleteError ? html` data-open-on-load` : ''}>
<form method="post" action="/console/customers/${r.customerId}/delete" class="stack">
  <h2 id="delete-title">Delete ${r.customerId}?</h2>
  ${v.deleteError ? html`<p class="flash error" role="alert" id="delete-error">${v.deleteError}</p>` : ''}
  <div class="dialog-plan">${planSection(v.plan, 3, !owner)}</div>
  ${csrfField(v.viewer)}
  <label for="after">When (retention period, e.g. 7d, 36h; 0: now)</label>
  <input id="after" name="after" type="text" inputmode="text" autocomplete="off" value="${v.after ?? ''}" placeholder="${defaultAfter === 0 ? '0' : formatRetention(defaultAfter)}" aria-describedby="after-hint">
  <p id="after-hint" class="hint">Empty: ${retentionWords(defaultAfter)}, the site's setting.${owner ? ` An account owner's deletion waits at least ${formatRetention(v.retention.ownerMinMs)}.` : ''} A scheduled deletion can be cancelled until it is due.</p>
  <label for="confirm">Type the customer ID <code>${r.customerId}</code> to confirm</label>
  <input id="confirm" name="confirm" type="text" autocomplete="off" spellcheck="false" required value="${v.typed ?? ''}" data-expect="${r.customerId}" aria-describedby="confirm-hint${v.deleteError ? ' delete-error' : ''}"${v.deleteError ? html` aria-invalid="true"` : ''}>
  <p id="confirm-hint" class="hint" aria-live="polite">As the CLI asks: nothing is deleted unless it matches exactly. Delete stays disabled until it does.</p>
  <div class="actions">
    <button type="submit" class="danger" data-confirm-submit disabled>Delete</button>
    <button type="button" data-close>Cancel</button>
  </div>
</form>
</dialog>` : ''}`;
}

// ---- jobs ------------------------------------------------------------------------------------

function firstLine(s: string | null): string {
  return (s ?? '').split('\n')[0] ?? '';
}

function jobActions(j: Job, v: Viewer): Raw {
  if (v.role !== 'admin') return html``;
  // a cancelled job is never retried (a new deletion is): no Retry for it
  if (j.state === 'failed' && !isCancelled(j)) return html`<form method="post" action="/console/jobs/${j.id}/retry">${csrfField(v)}<button type="submit" aria-label="Retry job ${j.id}">Retry</button></form>`;
  if (j.state === 'waiting' || j.state === 'delayed') return html`<form method="post" action="/console/jobs/${j.id}/cancel">${csrfField(v)}<button type="submit" aria-label="Cancel job ${j.id}">Cancel</button></form>`;
  return html``;
}

/** How long a job has run: from its first attempt's start to its end (or now, while active). */
export function jobDuration(j: Job, now: number): string {
  const start = j.attempts[0]?.startedOn ?? j.processedOn;
  if (start === null || start === undefined) return '-';
  const end = j.finishedOn ?? (j.state === 'active' ? now : null);
  if (end === null) return '-';
  return `${formatDuration(Math.max(0, end - start))}${j.state === 'active' ? ' so far' : ''}`;
}

export function jobsTable(jobs: readonly Job[], v: Viewer, withCustomer = true, now = Date.now()): Raw {
  if (jobs.length === 0) return html`<p>No jobs.</p>`;
  const actions = v.role === 'admin';
  // a fleet of several: the cluster each job acts on (jobs record it only then; never for an owner)
  const withCluster = v.role !== 'owner' && jobs.some((j) => j.data.cluster !== undefined);
  return html`<div class="table-wrap"><table class="cards">
<thead><tr><th scope="col">Job</th><th scope="col">Kind</th>${withCustomer ? html`<th scope="col">Customer</th>` : ''}${withCluster ? html`<th scope="col">Cluster</th>` : ''}<th scope="col">State</th><th scope="col" class="num">Progress</th><th scope="col">Attempts</th><th scope="col">Requested</th><th scope="col">Duration</th><th scope="col">Reason</th>${actions ? html`<th scope="col"><span class="sr-only">Actions</span></th>` : ''}</tr></thead>
<tbody>${jobs.map((j) => html`<tr>
  <th scope="row" data-label="Job"><a href="/console/jobs/${j.id}">${j.id}</a></th>
  <td data-label="Kind">${j.name}</td>
  ${withCustomer ? html`<td data-label="Customer">${j.data.customerId ? html`<a href="/console/customers/${j.data.customerId}">${j.data.customerId}</a>` : '-'}</td>` : ''}
  ${withCluster ? html`<td data-label="Cluster">${j.data.cluster ?? '-'}</td>` : ''}
  <td data-label="State">${statusBadge(stateName(j))}${isScheduled(j) && j.data.scheduledFor !== undefined ? html` <span class="muted">due ${time(new Date(j.data.scheduledFor).toISOString())}</span>` : ''}</td>
  <td data-label="Progress" class="num">${j.progress} %</td>
  <td data-label="Attempts">${j.attemptsMade}/${j.maxAttempts}</td>
  <td data-label="Requested">${time(j.timestamp)} <span class="muted">by ${j.requestedBy}</span></td>
  <td data-label="Duration" class="duration">${jobDuration(j, now)}</td>
  <td data-label="Reason">${j.failedReason && !isCancelled(j) ? html`<span class="${j.state === 'failed' ? 'danger' : ''}">${firstLine(j.failedReason)}</span>` : ''}</td>
  ${actions ? html`<td data-label="">${jobActions(j, v)}</td>` : ''}
</tr>`)}</tbody></table></div>`;
}

export function jobsPage(o: { jobs: Job[]; state: string; states: readonly string[]; customer: string; viewer: Viewer; total: number; page: number; pages: number; now: number; /** the cluster filter and the fleet's clusters (absent: one cluster) */ cluster?: string; clusters?: readonly string[] }): Raw {
  const link = (page: number) => `/console/jobs${query({ state: o.state, customer: o.customer, cluster: o.cluster || undefined, page: page > 1 ? page : undefined })}`;
  const owner = o.viewer.role === 'owner';
  return html`<h1>Jobs</h1>
<form method="get" action="/console/jobs" class="filters" role="search">
  <div><label for="state">State</label>
  <select id="state" name="state">
    <option value="">any</option>
    ${o.states.map((s) => html`<option value="${s}"${s === o.state ? html` selected` : ''}>${s}</option>`)}
  </select></div>
  ${owner ? '' : html`<div><label for="customer">Customer</label>
  <input id="customer" name="customer" type="search" value="${o.customer}" placeholder="cust_…" autocomplete="off" spellcheck="false"></div>`}
  ${owner || !o.clusters?.length ? '' : html`<div><label for="cluster">Cluster</label>
  <select id="cluster" name="cluster">
    <option value="">any</option>
    ${o.clusters.map((c) => html`<option value="${c}"${c === o.cluster ? html` selected` : ''}>${c}</option>`)}
  </select></div>`}
  <button type="submit">Filter</button>
</form>
<p class="muted" id="jobs-count">${o.total} job${o.total === 1 ? '' : 's'}${o.customer ? ` of ${o.customer}` : ''}, latest first${o.state === 'failed' ? ', with the reason each failed' : ''}${o.pages > 1 ? `; ${JOBS_PER_PAGE} a page` : ''}.</p>
${jobsTable(o.jobs, o.viewer, true, o.now)}
${pager(o.page, o.pages, link)}`;
}

/** Jobs shown on one page of the jobs list. */
export const JOBS_PER_PAGE = 50;

export interface StepLine {
  name: string;
  /** the job's progress once it is done */
  progress: number;
}

/** The part of a job page that changes while it runs (polled by console.js until it has ended). */
export function jobLive(j: Job, steps: readonly StepLine[], now: number, v: Viewer): Raw {
  const finished = j.state === 'completed' || j.state === 'failed';
  const current = steps.find((s) => j.progress < s.progress);
  const attempt = j.state === 'active' ? j.attemptsMade + 1 : j.attemptsMade;
  const rv = j.returnvalue as { outcome?: string; reason?: string; warnings?: string[] } | null;
  return html`<div id="job-live" data-live="/console/jobs/${j.id}/live" data-finished="${finished ? 'true' : 'false'}">
<p class="state-line" aria-live="polite">${statusBadge(stateName(j))} <span id="job-progress-text">${j.progress} %</span>
  · attempt ${attempt} of ${j.maxAttempts}${j.simulated ? ' · simulated' : ''}</p>
<progress id="job-progress" max="100" value="${j.progress}" aria-labelledby="job-progress-text">${j.progress} %</progress>
<div class="actions">${jobActions(j, v)}</div>
${kindFacts(j.name).holdsCustomerRow ? html`<ol class="steps" aria-label="Steps">${steps.map((s) => {
    const done = j.progress >= s.progress;
    const running = !done && s === current && j.state === 'active';
    return html`<li class="${done ? 'done' : running ? 'running' : 'todo'}">${s.name} <span class="muted">(${done ? 'done' : running ? 'running' : j.state === 'failed' && s === current ? 'failed' : 'to do'})</span></li>`;
  })}</ol>` : ''}
${isScheduled(j) && j.data.scheduledFor !== undefined
    ? html`<p>Scheduled: the deletion is due at ${time(new Date(j.data.scheduledFor).toISOString())}${j.data.scheduledFor > now ? `, in ${formatDuration(j.data.scheduledFor - now)}` : ''}; the instance is suspended until then.</p>`
    : j.state === 'delayed' && j.delayUntil ? html`<p>Next try at ${time(j.delayUntil)}, in ${formatDuration(Math.max(0, j.delayUntil - now))}.</p>` : ''}
${isCancelled(j)
    ? html`<p>Cancelled${j.finishedOn ? html` at ${time(j.finishedOn)}` : ''}.${kindFacts(j.name).holdsCustomerRow && j.data.customerId ? (deletionStarted(j) ? ' An attempt had run, so nothing was restored and the customer was left deletion_failed.' : ' The customer went back to its previous status.') : ''} A cancelled job is not retried: start a new deletion if it must go.</p>`
    : j.failedReason ? html`<p class="${j.state === 'failed' ? 'flash error' : ''}">${j.state === 'failed' ? 'Failed: ' : 'Last error: '}${j.failedReason}${j.failedCode ? ` (${j.failedCode})` : ''}</p>` : ''}
${rv && typeof rv === 'object' && rv.outcome ? html`<p>Result: ${rv.outcome}${rv.reason ? `: ${rv.reason}` : ''}</p>${(rv.warnings ?? []).length ? html`<ul>${(rv.warnings ?? []).map((w) => html`<li class="warn">${w}</li>`)}</ul>` : ''}` : ''}
${[...j.attempts].reverse().map((a) => html`<section class="attempt"><h3>Attempt ${a.attempt} <span class="muted">${a.outcome}${v.role === 'owner' ? '' : `, ${a.worker}`}, started ${time(a.startedOn)}</span></h3>
${a.error ? html`<p class="danger">${firstLine(a.error)}</p>` : ''}
${v.role === 'owner' ? '' : html`<pre class="log" tabindex="0" aria-label="Log of attempt ${a.attempt}">${a.log.join('\n') || '(no log lines yet)'}</pre>`}</section>`)}
</div>`;
}

export function jobPage(j: Job, steps: readonly StepLine[], v: Viewer, now: number): Raw {
  return html`<h1>Job ${j.id} <span class="muted">${j.name}</span></h1>
<dl class="facts">
  ${j.data.customerId ? html`<dt>Customer</dt><dd><a href="/console/customers/${j.data.customerId}">${j.data.customerId}</a>${j.data.namespace ? html` namespace <code>${j.data.namespace}</code>` : ''}</dd>` : ''}
  <dt>Requested</dt><dd>${time(j.timestamp)} by ${j.requestedBy}</dd>
  <dt>Attempt timeout</dt><dd>${formatDuration(j.opts.timeoutMs)}; backoff ${formatDuration(j.opts.backoff.delay)} × 2^n</dd>
  ${v.role !== 'owner' && (j.returnvalue as { certificate?: unknown } | null)?.certificate ? html`<dt>Certificate</dt><dd><a href="/console/jobs/${j.id}/certificate">signed deletion certificate</a> (<a href="/console/jobs/${j.id}/certificate?format=json" download>JSON</a>)</dd>` : ''}
</dl>
${jobLive(j, steps, now, v)}`;
}

// ---- cleanup-rbac ----------------------------------------------------------------------------

function rbacTable(entries: CleanupReport['orphans'], caption: string): Raw {
  if (entries.length === 0) return html``;
  return html`<div class="table-wrap"><table><caption>${caption}</caption>
<thead><tr><th scope="col">Kind</th><th scope="col">Name</th><th scope="col">Customer namespace</th><th scope="col">Why</th></tr></thead>
<tbody>${entries.map((e) => html`<tr><td data-label="Kind">${e.kind}</td><td data-label="Name"><code>${e.name}</code></td><td data-label="Customer namespace"><code>${e.namespace}</code></td><td data-label="Why">${e.reason}</td></tr>`)}</tbody></table></div>`;
}

export function rbacPage(o: { report: CleanupReport | null; error?: string; viewer: Viewer; swept?: CleanupReport }): Raw {
  const r = o.report;
  return html`<h1>Leaked cluster RBAC</h1>
<p>ClusterRoles and ClusterRoleBindings that carry a customer's mark while that customer's namespace is gone (the report of <code>custctl cleanup-rbac --dry-run</code>).</p>
${o.swept ? html`<section aria-label="Sweep result"><h2>Sweep ${o.swept.jobId ? html`(job <a href="/console/jobs/${o.swept.jobId}">${o.swept.jobId}</a>)` : ''}</h2>
<p role="status">${o.swept.deleted.length} deleted, ${o.swept.errors.length} error${o.swept.errors.length === 1 ? '' : 's'}.</p>
${rbacTable(o.swept.deleted, 'Deleted')}
${o.swept.errors.length ? html`<ul>${o.swept.errors.map((e) => html`<li class="danger">${e.kind} ${e.name}: ${e.error}</li>`)}</ul>` : ''}</section>` : ''}
${o.error ? html`<p class="flash error" role="alert">${o.error}</p>` : ''}
${r ? html`${r.note ? html`<p class="muted">${r.note}</p>` : ''}
<p id="orphan-count">${r.orphans.length} orphan${r.orphans.length === 1 ? '' : 's'} to delete, ${r.kept.length} kept.</p>
${rbacTable(r.orphans, 'Would be deleted')}
${rbacTable(r.kept, 'Kept (reported, never deleted)')}
${r.orphans.length > 0 && o.viewer.role === 'admin'
    ? html`<form method="post" action="/console/rbac/sweep" class="actions">${csrfField(o.viewer)}<button type="submit" class="danger">Delete these ${r.orphans.length} objects</button></form>`
    : ''}` : ''}`;
}

export function errorPage(status: number, message: string, details: readonly string[] = []): Raw {
  return html`<section class="narrow"><h1>${status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status === 401 ? 'Sign in needed' : 'Something went wrong'}</h1>
<p class="flash error" role="alert">${message}</p>
${details.length ? html`<ul>${details.map((d) => html`<li>${d}</li>`)}</ul>` : ''}
<p><a href="/">Back to the customers</a></p></section>`;
}

/** The plan's outside sections as the page lists them: consecutive sections of one system under one heading. */
function outsideSections(sections: readonly PlanSection[]): Array<{ id: string; label: string; lines: string[] }> {
  const out: Array<{ id: string; label: string; lines: string[] }> = [];
  for (const s of sections) {
    const last = out.at(-1);
    if (last && last.id === s.id) last.lines.push(...s.lines);
    else out.push({ id: s.id, label: s.id === 'hook' ? 'Hooks' : s.label, lines: [...s.lines] });
  }
  return out;
}
