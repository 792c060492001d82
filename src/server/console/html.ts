/**
 * HTML for the console, escaped by construction: `html` is a tagged template whose every
 * interpolation is escaped unless it is itself `html` (a `Raw`); arrays are joined. No value
 * from a row, a job or a request reaches a page any other way.
 */

export class Raw {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = Raw | string | number | boolean | null | undefined | readonly Part[];

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string);
}

function part(v: Part): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return v.map(part).join('');
  return esc(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Raw {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += part(v) + (strings[i + 1] ?? '');
  });
  return new Raw(out);
}

/** The environment a page acts on (admins and viewers; never an owner): the cluster, simulated or not, the database. */
export interface Banner {
  simulated: boolean;
  context?: string;
  server?: string;
  database: string;
  /** why the cluster could not be told (no kubeconfig…) */
  error?: string;
}

export interface LayoutContext {
  title: string;
  /** the signed-in principal; absent on the sign-in page */
  who?: { name: string; role: string; customerId?: string };
  csrf?: string;
  /** which nav entry is current */
  nav?: 'customers' | 'jobs' | 'rbac';
  /** the outcome of the last form post (or a page's own note), shown once at the top */
  flash?: { kind: 'ok' | 'error'; text: string; details?: readonly string[] } | null;
  /** the environment banner (admins and viewers) */
  banner?: Banner;
}

function bannerHtml(b: Banner): Raw {
  return html`<div class="env-banner${b.simulated ? ' simulated' : ''}" role="note" aria-label="Environment">
  <span><span class="env-label">Cluster</span> ${b.simulated
    ? html`<strong>simulated</strong> (SIMULATE_K8S_DEPLOYMENT=true: no cluster is contacted)`
    : b.context
      ? html`<code>${b.context}</code>${b.server ? html` <span class="env-server">(${b.server})</span>` : ''}`
      : html`<span class="danger">unknown: ${b.error ?? 'no kube context'}</span>`}</span>
  <span><span class="env-label">Database</span> <code>${b.database}</code></span>
</div>`;
}

export function layout(c: LayoutContext, body: Raw): string {
  const navItem = (key: NonNullable<LayoutContext['nav']>, href: string, label: string) =>
    html`<li><a href="${href}"${c.nav === key ? html` aria-current="page"` : ''}>${label}</a></li>`;
  const isAdmin = c.who?.role === 'admin';
  return `<!doctype html>${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${c.title} · custctl</title>
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/">custctl</a>
  ${c.who
    ? html`<nav aria-label="Main"><ul>
    ${navItem('customers', '/', 'Customers')}
    ${navItem('jobs', '/console/jobs', 'Jobs')}
    ${isAdmin ? navItem('rbac', '/console/rbac', 'Cluster RBAC') : ''}
  </ul></nav>
  <form class="signout" method="post" action="/console/logout">
    <span class="who">${c.who.name} <span class="role">(${c.who.role}${c.who.customerId ? ` of ${c.who.customerId}` : ''})</span></span>
    <input type="hidden" name="_csrf" value="${c.csrf ?? ''}">
    <button type="submit">Sign out</button>
  </form>`
    : ''}
</header>
${c.banner ? bannerHtml(c.banner) : ''}
<main id="main" tabindex="-1">
${c.flash ? html`<div class="flash ${c.flash.kind}" role="${c.flash.kind === 'error' ? 'alert' : 'status'}"><p>${c.flash.text}</p>${c.flash.details?.length ? html`<ul>${c.flash.details.map((d) => html`<li>${d}</li>`)}</ul>` : ''}</div>` : ''}
${body}
</main>
</body>
</html>`.text}\n`;
}

/** A time as people read it, with the exact ISO time for machines. */
export function time(iso: string | number | null | undefined): Raw {
  if (iso === null || iso === undefined || iso === '') return html`<span class="muted">-</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${String(iso)}`;
  const s = d.toISOString();
  return html`<time datetime="${s}">${s.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>`;
}

export function statusBadge(status: string): Raw {
  return html`<span class="badge s-${status.replace(/[^a-z_]/g, '')}">${status}</span>`;
}

/** A query string from the non-empty values (for pagination and filter links). */
export function query(values: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
