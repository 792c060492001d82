/**
 * The admin console of `custctl serve`, at `/`: server-rendered pages over the same store, queue
 * and job actions as the JSON API, plus one small script (assets/console/console.js) for the
 * delete dialog and the live job view. No build step, nothing from other hosts.
 *
 * Security: an API token is exchanged at sign-in for a session (session.ts) whose random id is an
 * HttpOnly, SameSite=Strict cookie (Secure, `__Host-` named, when the browser reaches the console
 * over HTTPS: TLS here, a public https URL, or a trusted proxy saying so); the token is never kept.
 * Every state-changing request needs the session's CSRF token (form field `_csrf` or header
 * `x-csrf-token`). Roles are the API's: a viewer reads, an admin deletes, retries, cancels and
 * sweeps; an account owner sees its own customer and its jobs (src/service/policy.ts) and may
 * schedule (never less than the minimum retention) and cancel its deletion. A deletion needs the
 * customer ID typed, checked here. Every POST is answered with a redirect (POST-redirect-GET): its
 * outcome, refusals included, is a one-time message of the session shown by the next page. Every
 * page carries a strict Content-Security-Policy.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import { DEPLOYMENT_STATUSES } from '../../adapters/store.js';
import { parseCustomerId, shownInput } from '../../domain/customer-id.js';
import { formatRetention, parseRetention } from '../../domain/duration.js';
import { isJobId } from '../../domain/job-id.js';
import { isStateName, STATE_NAMES, type Job } from '../../domain/job.js';
import { rowStatusName } from '../../domain/row-status.js';
import { CliError, errorMessage, ForbiddenError, httpStatusForErrorName, InvalidIdError, NotFoundError, UnauthorizedError, UsageError, type ErrorName } from '../../errors.js';
import type { CleanupReport } from '../../jobs/kinds/cleanup-rbac.js';
import { DELETE_STEPS } from '../../pipeline/steps/index.js';
import type { RouteSettings } from '../settings.js';
import { acceptForms, browserOrigin, type Form } from '../browser.js';
import { authorize as allow, cancellerOf, DEFAULT_RETENTION_RULE, deletionTerms, errorForOwner, jobView, mayCancelJob, mayReadCustomer, jobsScope, ownerNotFound, type Action } from '../../service/policy.js';
import type { ServerService } from '../../service/server-service.js';
import { authenticate, type Principal } from '../auth.js';
import type { AuthFailures } from '../auth-failures.js';
import { layout, type Banner, type LayoutContext } from './html.js';
import { customerPage, customersPage, errorPage, jobLive, jobPage, jobsPage, JOBS_PER_PAGE, loginPage, LOGIN_ERRORS, rbacPage, type ConsolePlan, type LoginError, type StepLine, type Viewer } from './pages.js';
import { csrfMatches, sameOrigin, SESSION_LIMITS, SessionStore, type Flash, type Session, type SessionLimits } from './session.js';

export type { Banner, ConsolePlan };

export interface ConsoleOptions {
  /** the deletion plan of one customer, as `delete --dry-run` shows it; default: the service's (src/service/server-service.ts) */
  plan?(customer: ReturnType<typeof parseCustomerId>): Promise<ConsolePlan>;
  /** what every admin's and viewer's page says at its top: the cluster, simulated or not, the database */
  environment?: () => Promise<Banner>;
  sessions?: Partial<SessionLimits>;
  /** the fleet's cluster names, for the jobs list's cluster filter (absent or one: no filter) */
  clusterNames?: () => readonly string[];
}

/** What the console shares with the API (app.ts): the failed-authentication limiter, the owner's view. */
export interface ConsoleShared {
  failures: AuthFailures;
  /** the site's own strings an owner must not read */
  ownerSecrets: () => readonly string[];
  /** this request's outcome was logged by the limiter: no line of its own */
  quiet: (req: FastifyRequest) => void;
}

/** What a console route needs: a session with this role (owner: only routes that allow owners). */
interface Need {
  role: 'viewer' | 'admin';
  owner?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** a console route: the session it needs (null: none, e.g. sign-in and the static files) */
    console?: Need | null;
  }
  interface FastifyRequest {
    consoleSession?: Session;
  }
}

export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
const PAGE_SIZE = 25;
const ASSETS = new URL('../../../assets/console/', import.meta.url);


/** The steps a job page shows, with the progress each one records when done (DELETE_STEPS). */
function stepsOf(job: Job): StepLine[] {
  const steps: StepLine[] = [];
  for (const s of DELETE_STEPS) {
    const progress = s.shownAt ? s.shownAt(job) : s.progress;
    if (progress !== undefined) steps.push({ name: s.name, progress });
  }
  return steps;
}

/**
 * A page after sign-in: a path of this console (`/…`, never `//host`, `/\\host` or a URL), in
 * printable ASCII as a Location header must be, at most 500 characters. Anything else is `/`.
 */
export function safeNext(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 500 || !/^\/(?![/\\])[\x21-\x7e]*$/.test(raw) || raw.includes('\\')) return '/';
  try {
    const u = new URL(raw, 'http://console.invalid');
    return u.origin === 'http://console.invalid' ? raw : '/';
  } catch {
    return '/';
  }
}

const COOKIE = 'custctl_session';
/** The cookie of a session reached over HTTPS: Secure, and `__Host-` (this host only, every path, no Domain). */
const SECURE_COOKIE = '__Host-custctl_session';

/** Registers the console's routes (an encapsulated plugin: its hooks and parsers touch no API route). */
export function registerConsole(app: FastifyInstance, svc: ServerService, s: RouteSettings, c: ConsoleOptions, shared: ConsoleShared): void {
  const sessions = new SessionStore(() => svc.now(), { ...SESSION_LIMITS, ...c.sessions });
  const originOf = browserOrigin(s);
  const cookieOf = (req: FastifyRequest) => (originOf(req).secure ? SECURE_COOKIE : COOKIE);
  const retention = s.retention ?? DEFAULT_RETENTION_RULE;
  const { log } = s;

  void app.register(async (scope) => {
    const [script, style] = await Promise.all([readFile(new URL('console.js', ASSETS), 'utf8'), readFile(new URL('console.css', ASSETS), 'utf8')]);
    await scope.register(cookie);
    acceptForms(scope);

    scope.addHook('onRequest', async (req, reply) => {
      void reply.headers({
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts
        'referrer-policy': 'same-origin',
        'cross-origin-opener-policy': 'same-origin',
        'cache-control': 'no-store',
        ...(originOf(req).secure ? { 'strict-transport-security': 'max-age=31536000' } : {}),
      });
      const need = req.routeOptions.config.console;
      const session = sessions.get(req.cookies[cookieOf(req)]);
      if (session) {
        req.consoleSession = session;
        req.principal = session.principal;
      }
      if (!need) return;
      if (!session) {
        if (req.method === 'GET') return reply.redirect(`/console/login?next=${encodeURIComponent(safeNext(req.url))}`, 303);
        throw new UnauthorizedError('not signed in, or the session has ended: sign in again');
      }
      const role = session.principal.role;
      if (role === 'owner' && !need.owner) throw new NotFoundError('not found');
      if (need.role === 'admin' && role === 'viewer') throw new ForbiddenError(`${session.principal.name} has role viewer; this needs an admin token`);
    });

    // every state-changing request carries the session's synchronizer token (after the body is parsed)
    scope.addHook('preHandler', async (req) => {
      if (req.method === 'GET' || req.method === 'HEAD') return;
      if (req.routeOptions.url === '/console/login') return; // no session yet: same-origin check in the route
      const sent = req.headers['x-csrf-token'] ?? (req.body as Form | undefined)?._csrf;
      if (!req.consoleSession || !csrfMatches(req.consoleSession, sent)) throw new ForbiddenError('missing or wrong CSRF token: reload the page and try again');
    });

    scope.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
      let status = 500;
      let name: ErrorName = 'internal';
      let message = 'internal server error (the server log has the details)';
      let details: readonly string[] = [];
      if (err instanceof CliError) {
        status = httpStatusForErrorName(err.errorName);
        name = err.errorName;
        message = err.message;
        details = err.details;
      } else if (typeof (err as { errorName?: unknown }).errorName === 'string') {
        // the API's own refusals (e.g. 503 while shutting down)
        name = (err as unknown as { errorName: ErrorName }).errorName;
        status = httpStatusForErrorName(name);
        message = err.message;
      } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        status = err.statusCode;
        name = 'invalid_request';
        message = `invalid request (HTTP ${status})`;
      }
      if (status >= 500) log.error(`${req.method} ${req.url.split('?')[0] ?? ''} failed`, { error: errorMessage(err), by: req.principal?.name });
      if (req.consoleSession?.principal.role === 'owner') {
        ({ message, details } = errorForOwner(name, message, ownerNotFound((req.params as { id?: unknown } | undefined)?.id), shared.ownerSecrets()));
      }
      // a form post is always answered with a redirect: the refusal is the next page's message
      if (req.method === 'POST') {
        if (!req.consoleSession) return reply.redirect(`/console/login?error=${status === 401 ? 'expired' : 'refused'}`, 303);
        req.consoleSession.flash = { kind: 'error', text: message, details };
        return reply.redirect(backTo(req, status), 303);
      }
      // a refused form post that led here still has its say
      const b = await bannerFor(req).catch(() => undefined);
      return reply.code(status).type('text/html; charset=utf-8').send(page(req, { title: 'Error', flash: takeFlash(req), ...(b ? { banner: b } : {}) }, errorPage(status, message, details)));
    });

    /** Where a refused form post sends the browser: the page the form was on (404: the list). */
    function backTo(req: FastifyRequest, status: number): string {
      const id = (req.params as { id?: unknown } | undefined)?.id;
      const url = req.routeOptions.url ?? '';
      if (url.startsWith('/console/customers/')) return status !== 404 && typeof id === 'string' && /^cust_[a-z0-9]{1,44}$/.test(id) ? `/console/customers/${id}` : '/';
      if (url.startsWith('/console/jobs/')) return status !== 404 && typeof id === 'string' && isJobId(id) ? `/console/jobs/${id}` : '/console/jobs';
      if (url.startsWith('/console/rbac')) return status === 403 ? '/' : '/console/rbac';
      return '/';
    }

    /** The one-time message of the session (what the last form post came to), taken. */
    function takeFlash(req: FastifyRequest): Flash | null {
      const f = req.consoleSession?.flash ?? null;
      if (req.consoleSession) delete req.consoleSession.flash;
      return f;
    }

    const viewerOf = (req: FastifyRequest): Viewer => ({ role: (req.consoleSession as Session).principal.role, csrf: (req.consoleSession as Session).csrf });
    const who = (req: FastifyRequest): Principal => (req.consoleSession as Session).principal;
    const requestedBy = (req: FastifyRequest) => `api:${who(req).name}`;
    /** A job as this session may see it (src/service/policy.ts): an owner's view of its own customer's job, else the job. */
    const shown = (req: FastifyRequest) => (job: Job): Job => jobView(who(req), job);
    // the environment banner: asked once it has answered (the kube context does not change under a running serve)
    let banner: Promise<Banner> | null = null;
    async function bannerFor(req: FastifyRequest): Promise<Banner | undefined> {
      const p = req.consoleSession?.principal;
      if (!p || p.role === 'owner' || !c.environment) return undefined;
      banner ??= c.environment().catch((e: unknown) => {
        banner = null;
        return { simulated: false, database: svc.where(), error: errorMessage(e).split('\n')[0] ?? 'unknown' };
      });
      return { ...(await banner), database: svc.where() };
    }
    function page(req: FastifyRequest, ctx: LayoutContext, body: ReturnType<typeof loginPage>): string {
      const sess = req.consoleSession;
      return layout({ ...ctx, ...(sess ? { who: sess.principal, csrf: sess.csrf } : {}) }, body);
    }
    /** A page with the banner (admins and viewers) and the session's one-time message. */
    async function fullPage(req: FastifyRequest, ctx: LayoutContext, body: ReturnType<typeof loginPage>): Promise<string> {
      const b = await bannerFor(req);
      const flash = ctx.flash !== undefined ? ctx.flash : takeFlash(req);
      return page(req, { ...ctx, flash, ...(b ? { banner: b } : {}) }, body);
    }
    const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);
    /** The job, if this session may do `action` with it; a missing one and (to an owner) another customer's read the same. */
    async function jobFor(req: FastifyRequest, raw: string, action: Action = 'read-job'): Promise<Job> {
      if (!isJobId(raw)) throw new InvalidIdError(`${shownInput(raw)} is not a job id: job ids are numbers, e.g. 12345`);
      const job = await svc.job(raw);
      if (!job) throw new NotFoundError(`job ${raw} not found`);
      allow(who(req), action, { job });
      return job;
    }

    // ---- static files and sign-in ---------------------------------------------------------

    scope.get('/console/static/console.js', { config: { console: null } }, async (_req, reply) => reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8').send(script));
    scope.get('/console/static/console.css', { config: { console: null } }, async (_req, reply) => reply.header('cache-control', 'no-cache').type('text/css; charset=utf-8').send(style));

    scope.get<{ Querystring: Form }>('/console/login', { config: { console: null } }, async (req, reply) => {
      if (req.consoleSession) return reply.redirect(safeNext(req.query.next), 303);
      const error = Object.hasOwn(LOGIN_ERRORS, req.query.error ?? '') ? (req.query.error as LoginError) : undefined;
      return send(reply, page(req, { title: 'Sign in' }, loginPage({ next: safeNext(req.query.next), ...(error ? { error } : {}) })));
    });

    // A sign-in is answered with a redirect, whatever its outcome: to the page asked for, or back to
    // the sign-in page with the reason (a reload never posts the token again).
    scope.post<{ Body: Form }>('/console/login', { config: { console: null } }, async (req, reply) => {
      const form = req.body ?? {};
      const next = safeNext(form.next);
      const again = (error: LoginError) => reply.redirect(`/console/login?error=${error}${next !== '/' ? `&next=${encodeURIComponent(next)}` : ''}`, 303);
      const { origin, secure } = originOf(req);
      const wait = shared.failures.retryAfter(req.ip);
      if (wait > 0) {
        shared.quiet(req);
        return again('wait');
      }
      if (!sameOrigin(req.headers, origin)) {
        // a failed sign-in like a wrong token: counted per address, logged once per burst
        const sent = typeof req.headers.origin === 'string' ? req.headers.origin.slice(0, 100).replace(/[^\x20-\x7e]/g, '?') : '(none)';
        shared.failures.fail(req.ip, `console sign-in refused: it did not come from this console (Origin ${sent}, expected ${origin ?? '(unknown)'}${s.publicUrl ? '' : '; behind a proxy: serve --public-url https://… or --trust-proxy ADDRESS'})`);
        shared.quiet(req);
        return again('origin');
      }
      const principal = typeof form.token === 'string' && form.token !== '' ? authenticate(s.tokens, form.token.trim()) : null;
      if (!principal) {
        shared.failures.fail(req.ip, 'unknown or wrong API token at the console sign-in');
        shared.quiet(req);
        return again('token');
      }
      const name = secure ? SECURE_COOKIE : COOKIE;
      sessions.destroy(req.cookies[name]);
      const { id } = sessions.create(principal);
      req.principal = principal;
      log.info('console sign-in', { by: principal.name, role: principal.role, sessions: sessions.countOf(principal.name) });
      void reply.setCookie(name, id, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: sessions.cookieMaxAgeSeconds() });
      return reply.redirect(next, 303);
    });

    scope.post('/console/logout', { config: { console: { role: 'viewer', owner: true } } }, async (req, reply) => {
      const name = cookieOf(req);
      sessions.destroy(req.cookies[name]);
      void reply.clearCookie(name, { path: '/', httpOnly: true, sameSite: 'strict', secure: name === SECURE_COOKIE });
      return reply.redirect('/console/login', 303);
    });

    // ---- customers ------------------------------------------------------------------------

    scope.get<{ Querystring: Form }>('/', { config: { console: { role: 'viewer', owner: true } } }, async (req, reply) => {
      const q = (req.query.q ?? '').trim().slice(0, 100);
      const statuses = [...DEPLOYMENT_STATUSES, 'scheduled'];
      const status = statuses.includes(req.query.status as never) ? (req.query.status as string) : '';
      const p = who(req);
      const needle = q.toLowerCase();
      const now = svc.now();
      const rows = (await svc.rows())
        .filter((r) => mayReadCustomer(p, r.customerId))
        .filter((r) => !status || rowStatusName(r, now) === status)
        .filter((r) => !needle || [r.customerId, r.companyName, r.email, r.instanceNamespace].some((f) => f.toLowerCase().includes(needle)))
        .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.customerId.localeCompare(b.customerId));
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
      const pageNo = Math.min(pages, Math.max(1, Number.parseInt(req.query.page ?? '1', 10) || 1));
      const shownRows = rows.slice((pageNo - 1) * PAGE_SIZE, pageNo * PAGE_SIZE);
      return send(reply, await fullPage(req, { title: 'Customers', nav: 'customers' }, customersPage({ rows: shownRows, total: rows.length, page: pageNo, pages, q, status, statuses, now })));
    });

    scope.get<{ Params: { id: string }; Querystring: Form }>('/console/customers/:id', { config: { console: { role: 'viewer', owner: true } } }, async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'read-customer', { customerId: customer.id });
      const row = await svc.row(customer.id);
      if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${svc.where()}`);
      const owner = who(req).role === 'owner';
      const latest = await svc.latestJobs(customer.id);
      const jobs = latest.map(shown(req));
      // the Cancel button only where the cancel would be accepted: a deletion not running, that this principal may cancel
      const holder = row.deploymentStatus === 'deleting' && row.deletionJobId ? (latest.find((j) => j.id === row.deletionJobId) ?? (await svc.job(row.deletionJobId))) : null;
      const cancellable = who(req).role !== 'viewer' && holder !== null && (holder.state === 'waiting' || holder.state === 'delayed') && mayCancelJob(who(req), holder);
      // an owner reads why there is no plan only as its own customer's state, never the server's error
      const planOf = c.plan ?? (svc.plan ? (x: typeof customer) => (svc.plan as NonNullable<typeof svc.plan>).call(svc, x) : undefined);
      if (!planOf) throw new UsageError('the deletion plan is not available on this server');
      const plan = await planOf(customer).catch((e: unknown) => ({
        error: owner ? (e instanceof CliError && e.errorName === 'conflict' ? errorForOwner('conflict', e.message, '', shared.ownerSecrets()).message : 'No plan can be shown now; the operators have the details.') : (errorMessage(e).split('\n')[0] ?? 'no plan'),
      }));
      const taken = takeFlash(req);
      const flash = taken ?? (req.query.cancelled === '1'
        ? { kind: 'ok' as const, text: 'The deletion was cancelled; a scheduled deletion\'s instance is restored.' }
        : req.query.cancelled === 'started'
          ? { kind: 'error' as const, text: 'The deletion was stopped after it had started: nothing was restored (part of the instance may be gone), the customer is deletion_failed.' }
          : null);
      const dialog = taken?.dialog;
      const body = customerPage({
        row, jobs, plan, viewer: viewerOf(req), retention, now: svc.now(), cancellable,
        ...(dialog ? { deleteError: taken.text, typed: dialog.typed, after: dialog.after } : {}),
      });
      return send(reply, await fullPage(req, { title: customer.id, nav: 'customers', flash: dialog ? null : flash }, body));
    });

    scope.post<{ Params: { id: string }; Body: Form }>('/console/customers/:id/delete', { config: { console: { role: 'admin', owner: true } } }, async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'submit', { customerId: customer.id });
      const form = req.body ?? {};
      const typed = (form.confirm ?? '').trim();
      const afterRaw = (form.after ?? '').trim();
      /** The dialog again, with what was typed and why nothing was deleted (on the customer's page). */
      const refuse = (text: string) => {
        (req.consoleSession as Session).flash = { kind: 'error', text, dialog: { typed: typed.slice(0, 200), after: afterRaw.slice(0, 50) } };
        return reply.redirect(`/console/customers/${customer.id}`, 303);
      };
      if (typed !== customer.id) {
        log.warn('console deletion refused: wrong customer ID typed', { customerId: customer.id, by: who(req).name });
        return refuse(`You typed ${typed === '' ? 'nothing' : shownInput(typed)}, not the customer ID ${customer.id}: nothing was deleted.`);
      }
      let afterMs: number | undefined;
      if (afterRaw !== '') {
        try {
          afterMs = parseRetention(afterRaw, 'The retention period');
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          return refuse(`${e.message}. Nothing was deleted.`);
        }
      }
      const terms = deletionTerms(who(req), afterMs !== undefined ? { afterMs } : {}, retention);
      if (!terms.allowed) return refuse(`An account owner's deletion waits at least ${formatRetention(retention.ownerMinMs)}: nothing was deleted.`);
      afterMs = terms.afterMs;
      const job = await svc.submit(customer, requestedBy(req), afterMs !== undefined ? { afterMs } : {});
      log.info(job.data.scheduledFor !== undefined ? 'Deletion scheduled (console)' : 'Deletion queued (console)', { customerId: customer.id, job: job.id, by: who(req).name });
      return reply.redirect(`/console/jobs/${job.id}`, 303);
    });

    scope.post<{ Params: { id: string } }>('/console/customers/:id/cancel-deletion', { config: { console: { role: 'admin', owner: true } } }, async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'cancel', { customerId: customer.id });
      if (!svc.cancel) throw new UsageError('cancelling deletions is not available on this server');
      const r = await svc.cancel({ customer }, cancellerOf(who(req)));
      log.info('Deletion cancelled (console)', { customerId: customer.id, job: r.jobId, status: r.status ?? undefined, restored: r.restored.length, by: who(req).name });
      return reply.redirect(`/console/customers/${customer.id}?cancelled=${r.deletionStarted ? 'started' : '1'}`, 303);
    });

    // ---- jobs -----------------------------------------------------------------------------

    scope.get<{ Querystring: Form }>('/console/jobs', { config: { console: { role: 'viewer', owner: true } } }, async (req, reply) => {
      const state = isStateName(req.query.state) ? req.query.state : undefined;
      const p = who(req);
      const asked = (req.query.customer ?? '').trim().slice(0, 100);
      const customer = jobsScope(p, asked !== '' && p.role !== 'owner' ? parseCustomerId(asked).id : undefined);
      // the cluster filter: a fleet of several only (jobs record their cluster then); never for an owner
      const clusters = p.role === 'owner' ? [] : (c.clusterNames?.() ?? []);
      const cluster = clusters.includes(req.query.cluster ?? '') ? (req.query.cluster as string) : undefined;
      const jobs = (await svc.jobs({ ...(state ? { state } : {}), ...(customer ? { customerId: customer } : {}) }))
        .filter((j) => !cluster || j.data.cluster === cluster)
        .reverse();
      const pages = Math.max(1, Math.ceil(jobs.length / JOBS_PER_PAGE));
      const pageNo = Math.min(pages, Math.max(1, Number.parseInt(req.query.page ?? '1', 10) || 1));
      const shownJobs = jobs.slice((pageNo - 1) * JOBS_PER_PAGE, pageNo * JOBS_PER_PAGE).map(shown(req));
      return send(reply, await fullPage(req, { title: 'Jobs', nav: 'jobs' }, jobsPage({
        jobs: shownJobs, state: state ?? '', states: STATE_NAMES, customer: p.role === 'owner' ? '' : (customer ?? ''), viewer: viewerOf(req), total: jobs.length, page: pageNo, pages, now: svc.now(),
        ...(clusters.length > 1 ? { clusters, cluster: cluster ?? '' } : {}),
      })));
    });

    scope.get<{ Params: { id: string }; Querystring: Form }>('/console/jobs/:id', { config: { console: { role: 'viewer', owner: true } } }, async (req, reply) => {
      const job = shown(req)(await jobFor(req, req.params.id));
      const flash = takeFlash(req) ?? (req.query.done ? { kind: 'ok' as const, text: req.query.done === 'retry' ? `Job ${job.id} queued again.` : `Job ${job.id} cancelled.` } : null);
      return send(reply, await fullPage(req, { title: `Job ${job.id}`, nav: 'jobs', flash }, jobPage(job, stepsOf(job), viewerOf(req), svc.now())));
    });

    // the job's signed deletion certificate: its HTML rendering, or the file `certificate verify` reads (?format=json)
    // staff only, as the API's (a signed document cannot be trimmed for an owner)
    scope.get<{ Params: { id: string }; Querystring: Form }>('/console/jobs/:id/certificate', { config: { console: { role: 'viewer' } } }, async (req, reply) => {
      const job = await jobFor(req, req.params.id);
      const [{ jobCertificate }, { certificateHtml, certificateJson }] = await Promise.all([import('../../jobs/certificate-of-job.js'), import('../../domain/certificate.js')]);
      const doc = jobCertificate(job);
      if (req.query.format === 'json') {
        return reply.type('application/json; charset=utf-8').header('content-disposition', `attachment; filename="certificate-job-${job.id}.json"`).send(certificateJson(doc));
      }
      return send(reply, certificateHtml(doc, 'Shown, not verified: download the JSON and check it with custctl certificate verify.'));
    });

    // the live part of a job page, polled by console.js about once a second while the job runs
    scope.get<{ Params: { id: string } }>('/console/jobs/:id/live', { config: { console: { role: 'viewer', owner: true } } }, async (req, reply) => {
      const job = shown(req)(await jobFor(req, req.params.id));
      return send(reply, jobLive(job, stepsOf(job), svc.now(), viewerOf(req)).text);
    });

    scope.post<{ Params: { id: string } }>('/console/jobs/:id/retry', { config: { console: { role: 'admin' } } }, async (req, reply) => {
      const job = await jobFor(req, req.params.id, 'retry');
      await svc.retry(job.id, requestedBy(req));
      log.info(`Job ${job.id} queued again (console)`, { by: who(req).name });
      return reply.redirect(`/console/jobs/${job.id}?done=retry`, 303);
    });

    scope.post<{ Params: { id: string } }>('/console/jobs/:id/cancel', { config: { console: { role: 'admin' } } }, async (req, reply) => {
      const job = await jobFor(req, req.params.id, 'cancel');
      if (!svc.cancel) throw new UsageError('cancelling jobs is not available on this server');
      const r = await svc.cancel({ jobId: job.id }, cancellerOf(who(req)));
      log.info(`Job ${job.id} cancelled (console)`, { customerId: r.customerId ?? undefined, status: r.status ?? undefined, restored: r.restored.length, by: who(req).name });
      return reply.redirect(`/console/jobs/${job.id}?done=cancel`, 303);
    });

    // ---- cleanup-rbac ---------------------------------------------------------------------

    scope.get('/console/rbac', { config: { console: { role: 'admin' } } }, async (req, reply) => {
      if (!svc.cleanupRbac) throw new UsageError('cleanup-rbac is not available on this server');
      const flash = takeFlash(req);
      let report: CleanupReport | null = null;
      let error: string | undefined;
      try {
        report = (await svc.cleanupRbac(true, requestedBy(req), { includeKept: false })) as CleanupReport;
      } catch (e) {
        error = errorMessage(e).split('\n')[0];
      }
      const swept = flash?.data as CleanupReport | undefined;
      return send(reply, await fullPage(req, { title: 'Cluster RBAC', nav: 'rbac', flash: swept ? null : flash }, rbacPage({ report, viewer: viewerOf(req), ...(error ? { error } : {}), ...(swept ? { swept } : {}) })));
    });

    // the sweep's report is the next page's (POST-redirect-GET): a reload shows the list, never sweeps again
    scope.post('/console/rbac/sweep', { config: { console: { role: 'admin' } } }, async (req, reply) => {
      if (!svc.cleanupRbac) throw new UsageError('cleanup-rbac is not available on this server');
      const swept = (await svc.cleanupRbac(false, requestedBy(req), { includeKept: false })) as CleanupReport;
      log.info('cleanup-rbac sweep (console)', { job: swept.jobId ?? undefined, deleted: swept.deleted.length, by: who(req).name });
      (req.consoleSession as Session).flash = { kind: 'ok', text: `Swept: ${swept.deleted.length} deleted.`, data: swept };
      return reply.redirect('/console/rbac', 303);
    });
  });
}
