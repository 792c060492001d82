/**
 * The customer portal's pages: one customer's account in the customer's words. Escaped by
 * construction (the console's `html` template). Nothing of how the site runs reaches a page: no
 * namespace, cluster, database, server, worker or token name, no error text from them; the job is
 * told as a state, a percentage and dates.
 */
import { formatRetention } from '../../domain/duration.js';
import type { Job } from '../../domain/job.js';
import { html, type Raw } from '../console/html.js';

export interface PortalFlash {
  kind: 'ok' | 'error';
  text: string;
}

/** A date as a customer reads it (UTC, said so), and the ISO time for machines. */
function when(ms: number | string): Raw {
  const d = new Date(ms);
  const shown = `${d.toUTCString().replace(' GMT', '')} UTC`;
  return html`<time datetime="${d.toISOString()}">${shown}</time>`;
}

export function portalLayout(o: { title: string; site: string; csrf?: string; signedIn?: string; flash?: PortalFlash | null }, body: Raw): string {
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · ${o.site}</title><link rel="stylesheet" href="/portal/static/portal.css"><script src="/portal/static/portal.js" defer></script></head>
<body><header class="top"><span class="brand">${o.site}</span>${o.signedIn ? html`<form class="signout" method="post" action="/portal/sign-out"><span class="who">Account ${o.signedIn}</span><input type="hidden" name="_csrf" value="${o.csrf ?? ''}"><button type="submit">Sign out</button></form>` : ''}</header>
<main id="main">${o.flash ? html`<p class="flash ${o.flash.kind}" role="${o.flash.kind === 'error' ? 'alert' : 'status'}">${o.flash.text}</p>` : ''}${body}</main></body></html>`.text}`;
}

export const SIGN_IN_ERRORS = {
  expired: 'Your session has ended. Use a new sign-in link (ask us for one), or your access token.',
  token: 'That is not an account access token. Nothing was changed.',
  wait: 'Too many attempts from your address: wait a minute and try again.',
  origin: 'This sign-in did not come from this page. Open the link again.',
} as const;
export type SignInError = keyof typeof SIGN_IN_ERRORS;

/** The sign-in page: with a valid link, a button that uses it; without one, the access-token form. */
export function signInPage(o: { token?: string; customerId?: string; expiresAt?: number; refused?: string; error?: SignInError }): Raw {
  if (o.refused) {
    return html`<h1>This sign-in link cannot be used</h1><p class="refused" role="alert">${o.refused}.</p><p>Nothing was changed. Ask us for a new link.</p>`;
  }
  if (o.token && o.customerId) {
    return html`<h1>Sign in to account ${o.customerId}</h1>
<p>This link signs you in once, until ${when(o.expiresAt ?? 0)}.</p>
<form method="post" action="/portal/sign-in" class="stack narrow"><input type="hidden" name="link" value="${o.token}"><button type="submit" id="use-link" class="primary">Sign in</button></form>`;
  }
  return html`<h1>Sign in to your account</h1>
${o.error ? html`<p class="flash error" role="alert">${SIGN_IN_ERRORS[o.error]}</p>` : ''}
<p>Open the sign-in link we sent you, or paste your account access token.</p>
<form method="post" action="/portal/sign-in" class="stack narrow"><label for="access-token">Access token</label><input id="access-token" name="token" type="password" autocomplete="off" required><button type="submit" class="primary">Sign in</button></form>`;
}

/** How the account stands, in the customer's words. */
export type AccountState =
  | { kind: 'active' }
  | { kind: 'scheduled'; dueAt: number; cancellable: boolean }
  | { kind: 'deleting' }
  | { kind: 'deleted'; at: string | null }
  | { kind: 'stopped' };

export interface AccountView {
  customerId: string;
  company: string;
  url: string;
  state: AccountState;
  /** the retention a deletion scheduled now gets, and the shortest the customer may ask for, ms */
  retentionMs: number;
  minRetentionMs: number;
  now: number;
  /** the deletion job (the customer's view), latest first */
  job: Job | null;
  /** the job's certificate can be downloaded */
  certificate: boolean;
  exportAvailable: boolean;
  csrf: string;
}

function jobWords(job: Job): string {
  if (job.state === 'delayed') return 'waiting for its date';
  if (job.state === 'waiting') return 'about to start';
  if (job.state === 'active') return `in progress (${job.progress}%)`;
  if (job.state === 'completed') return 'done: your account is deleted';
  if (job.failedReason === 'cancelled') return 'cancelled: nothing was deleted';
  return 'stopped before it finished: we have been told and will contact you';
}

export function jobSection(job: Job, certificate: boolean): Raw {
  return html`<section id="progress" aria-labelledby="progress-h"><h2 id="progress-h">Progress of the deletion</h2>
<dl class="facts" data-job="${job.id}"><dt>Request</dt><dd><a href="/portal/jobs/${job.id}">number ${job.id}</a></dd>
<dt>State</dt><dd class="job-state" data-state="${job.state}">${jobWords(job)}</dd>
<dt>Progress</dt><dd><progress max="100" value="${job.progress}">${job.progress}%</progress> <span class="job-progress">${job.progress}%</span></dd>
${job.data.scheduledFor !== undefined ? html`<dt>Data deleted on</dt><dd>${when(job.data.scheduledFor)}</dd>` : ''}
${job.finishedOn ? html`<dt>Finished</dt><dd>${when(job.finishedOn)}</dd>` : ''}
${certificate ? html`<dt>Proof</dt><dd><a href="/portal/jobs/${job.id}/certificate" download>Deletion certificate (signed)</a></dd>` : ''}</dl></section>`;
}

export function accountPage(v: AccountView): Raw {
  const s = v.state;
  const goesOn = v.now + v.retentionMs;
  const status = s.kind === 'active'
    ? html`<p class="state" data-state="active">Your account is active.</p>`
    : s.kind === 'scheduled'
      ? html`<p class="state warn" data-state="scheduled">Your account is scheduled for deletion on ${when(s.dueAt)}. Until then your app is paused and all your data is kept.</p>`
      : s.kind === 'deleting'
        ? html`<p class="state warn" data-state="deleting">Your account is being deleted now.</p>`
        : s.kind === 'deleted'
          ? html`<p class="state" data-state="deleted">Your account was deleted${s.at ? html` on ${when(s.at)}` : ''}.</p>`
          : html`<p class="state danger" data-state="stopped">The deletion of your account stopped before it finished. We have been told and will contact you.</p>`;
  const canSchedule = s.kind === 'active';
  return html`<h1>Your account ${v.customerId}</h1>
${status}
<dl class="facts"><dt>Account</dt><dd>${v.customerId}</dd>${v.company ? html`<dt>Company</dt><dd>${v.company}</dd>` : ''}${v.url ? html`<dt>Address</dt><dd>${v.url}</dd>` : ''}</dl>

<section id="warning" class="warning" aria-labelledby="warning-h"><h2 id="warning-h">What deleting your account means</h2>
<p>When your account is deleted, we delete:</p>
<ul><li><strong>your app</strong>: everything that runs it, and its address stops answering;</li>
<li><strong>your databases' volumes</strong>: the data stored in your databases and on your app's disks;</li>
<li><strong>your configuration</strong>: your settings, passwords and keys, and domains.</li></ul>
<p class="danger"><strong>This cannot be undone.</strong> Once the deletion runs, none of this can be recovered, by you or by us. Take what you want to keep with the export below first.</p>
<p>A deletion you ask for does not happen at once: your app is paused and your data kept for the retention period, <strong>${formatRetention(v.retentionMs)}</strong> (at least ${formatRetention(v.minRetentionMs)}). Until then you can cancel it here and everything comes back as it was.
${canSchedule ? html` If you schedule it today, your data goes on ${when(goesOn)}.` : s.kind === 'scheduled' ? html` Your data goes on ${when(s.dueAt)}.` : ''}</p></section>

${v.exportAvailable ? html`<section id="export" aria-labelledby="export-h"><h2 id="export-h">Export your data</h2>
<p>Download an archive of what is yours: your configuration and secrets, your account's details, a description of your volumes and how to copy the data in them, and a README. It holds passwords and keys: keep it safe, or give a passphrase to encrypt it (open it with <code>age -d</code>).</p>
<form method="post" action="/portal/export" class="stack narrow" id="export-form"><input type="hidden" name="_csrf" value="${v.csrf}">
<label for="passphrase">Passphrase (optional, at least 12 characters)</label><input id="passphrase" name="passphrase" type="password" autocomplete="new-password" minlength="12">
<button type="submit" id="export-button">Download the export</button></form></section>` : ''}

${canSchedule ? html`<section id="delete" aria-labelledby="delete-h"><h2 id="delete-h">Delete your account</h2>
<form method="post" action="/portal/delete" class="stack narrow" id="delete-form"><input type="hidden" name="_csrf" value="${v.csrf}">
<label for="after">Keep my data for (at least ${formatRetention(v.minRetentionMs)})</label><input id="after" name="after" type="text" value="${formatRetention(v.retentionMs)}" required>
<label for="confirm">Type your account ID, <code>${v.customerId}</code>, to confirm</label><input id="confirm" name="confirm" type="text" autocomplete="off" required data-expect="${v.customerId}">
<button type="submit" id="delete-button" class="danger-button">Schedule the deletion</button></form></section>` : ''}

${s.kind === 'scheduled' ? html`<section id="cancel" aria-labelledby="cancel-h"><h2 id="cancel-h">Keep your account</h2>
${s.cancellable
    ? html`<form method="post" action="/portal/cancel" class="stack narrow"><input type="hidden" name="_csrf" value="${v.csrf}"><p>Cancel the deletion: your app runs again, nothing is lost.</p><button type="submit" id="cancel-button" class="primary">Cancel the deletion</button></form>`
    : html`<p>This deletion was scheduled by us, not from this page: contact us to cancel it.</p>`}</section>` : ''}

${v.job ? jobSection(v.job, v.certificate) : ''}`;
}

export function jobPage(job: Job, certificate: boolean): Raw {
  return html`<p><a href="/portal">Back to your account</a></p>${jobSection(job, certificate)}`;
}

export function errorPage(status: number, message: string): Raw {
  return html`<h1>${status === 404 ? 'Not found' : 'Something went wrong'}</h1><p class="refused">${message}</p><p><a href="/portal">Back to your account</a></p>`;
}
