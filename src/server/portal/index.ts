/**
 * The customer portal of `custctl serve`, at `/portal`: one customer's account, in its own words
 * (pages.ts). The customer signs in with a short-lived, single-use signed link
 * (src/domain/portal-link.ts: `custctl portal link`, or `POST /api/customers/:id/portal-link` for
 * the billing app) or with its account owner token; either is exchanged for a session exactly as
 * the console's sign-in is (console/session.ts: a random id in an HttpOnly, SameSite=Strict
 * cookie, a CSRF token per session, the same-origin check of a sign-in, failed attempts counted per
 * address). The session is an account owner's: the portal reads and acts on its own customer only,
 * through the owner rules (rules.ts). Another customer's job reads as one that does not exist.
 *
 * What a customer can do: read what a deletion means (what goes, what cannot be recovered, the
 * retention and the date), download its export, schedule its own deletion (at least the owner's
 * minimum retention, the account ID typed), cancel it while it waits, and watch the job.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import type { CustomerRow } from '../../adapters/store.js';
import { parseCustomerId, type CustomerId } from '../../domain/customer-id.js';
import { parseDuration, parseRetention } from '../../domain/duration.js';
import { isJobId } from '../../domain/job-id.js';
import { kindFacts, type Job } from '../../domain/job.js';
import {
  checkLinkTtl, DEFAULT_LINK_TTL_MS, MemoryUsedLinks, mintPortalToken, PORTAL_PAGES, PortalConfigError, portalLinkUrl, redeemPortalToken, verifyPortalToken,
  type PortalPage, type PortalSecrets, type UsedLinks,
} from '../../domain/portal-link.js';
import { CliError, errorMessage, httpStatusForErrorName, InvalidIdError, NotFoundError, UnauthorizedError, UsageError, type ErrorName } from '../../errors.js';
import { mayCancel } from '../../jobs/cancel.js';
import type { RouteSettings } from '../settings.js';
import { acceptForms, browserOrigin, type Form } from '../browser.js';
import type { ServerService } from '../../service/server-service.js';
import { authenticate, cancellerOf, type Principal } from '../auth.js';
import type { ConsoleShared } from '../console/index.js';
import { csrfMatches, sameOrigin, SESSION_LIMITS, SessionStore, type Session, type SessionLimits } from '../console/session.js';
import { accountPage, errorPage, jobPage, portalLayout, signInPage, SIGN_IN_ERRORS, type AccountState, type PortalFlash, type SignInError } from './pages.js';
import { ownerDefaultRetention, ownerError, ownerJob, ownerRetention } from './rules.js';
import { DEFAULT_RETENTION_RULE } from '../../service/policy.js';

export interface PortalExport {
  /** the archive's file name */
  name: string;
  bytes: Buffer;
}

export interface PortalOptions {
  /** CUSTCTL_SITE_NAME: who the customer deals with */
  site: string;
  /** the link secrets (CUSTCTL_PORTAL_SECRET_FILE / CUSTCTL_PORTAL_SECRET); null: sign-in by owner token only */
  secrets: PortalSecrets | null;
  /** where used links are remembered (default: this process's memory) */
  used?: UsedLinks;
  /** CUSTCTL_PORTAL_URL: the base of the links the API mints (default: the public URL, else the request's origin) */
  baseUrl?: string;
  /** the customer's export archive (absent: no export from this server) */
  export?: (customer: CustomerId, o: { passphrase?: string; actor: string }) => Promise<PortalExport>;
  sessions?: Partial<SessionLimits>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** a portal route: true needs a portal session */
    portal?: boolean;
  }
  interface FastifyRequest {
    portalSession?: Session;
  }
}

const ASSETS = new URL('../../../assets/portal/', import.meta.url);
const COOKIE = 'custctl_portal';
const SECURE_COOKIE = '__Host-custctl_portal';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";


/** The portal's principal of a link sign-in: one name per customer, so a deletion it schedules it can cancel in a later session. */
export const portalPrincipal = (customerId: string): Principal => ({ name: `portal:${customerId}`, role: 'owner', customerId });

/** Where a link's page opens. */
const PAGE_ANCHOR: Record<PortalPage, string> = { overview: '/portal', delete: '/portal#delete', cancel: '/portal#cancel', export: '/portal#export' };

/** The signed certificate a finished job's result carries, when one was issued (`certificate` in the result). */
export function certificateOfJob(job: Job): unknown {
  const rv = job.returnvalue as { certificate?: unknown } | null;
  return rv && typeof rv === 'object' && rv.certificate && typeof rv.certificate === 'object' ? rv.certificate : null;
}

/** The account's state as the customer reads it. */
function accountState(row: CustomerRow, job: Job | null, who: Principal, now: number): AccountState {
  if (row.deploymentStatus === 'deleting') {
    const due = row.deletionScheduledAt ? Date.parse(row.deletionScheduledAt) : null;
    if (due !== null && due > now && (!job || job.state === 'delayed' || job.state === 'waiting')) {
      return { kind: 'scheduled', dueAt: due, cancellable: job !== null && mayCancel(job, cancellerOf(who)) };
    }
    return { kind: 'deleting' };
  }
  if (row.deploymentStatus === 'deletion_failed') return { kind: 'stopped' };
  if (row.deploymentStatus === 'pending' && row.deletedAt) return { kind: 'deleted', at: row.deletedAt };
  return { kind: 'active' };
}

/**
 * `POST /api/customers/:id/portal-link?ttl=1h&page=cancel` (an admin token: the billing app): a
 * sign-in link for one customer, as `custctl portal link` makes it.
 */
function registerLinkApi(app: FastifyInstance, svc: ServerService, s: RouteSettings, p: PortalOptions): void {
  app.post<{ Params: { id: string }; Querystring: Form }>('/api/customers/:id/portal-link', { config: { role: 'admin' } }, async (req) => {
    const customer = parseCustomerId(req.params.id);
    if (!p.secrets) throw new UsageError('this server has no portal secret (CUSTCTL_PORTAL_SECRET_FILE): it cannot make sign-in links');
    let ttlMs = DEFAULT_LINK_TTL_MS;
    const page = (req.query.page ?? 'overview') as PortalPage;
    try {
      if (req.query.ttl !== undefined) ttlMs = parseDuration(req.query.ttl);
      checkLinkTtl(ttlMs, 'ttl');
      if (!(PORTAL_PAGES as readonly string[]).includes(page)) throw new PortalConfigError(`page must be one of ${PORTAL_PAGES.join(', ')}`);
    } catch (e) {
      throw new UsageError(e instanceof PortalConfigError ? e.message : 'ttl takes a duration with a unit, from 5m to 7d (e.g. 1h)');
    }
    const row = await svc.row(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found`);
    const base = p.baseUrl ?? s.publicUrl ?? `${req.protocol}://${req.host}`;
    const { token, claims } = mintPortalToken({ customerId: customer.id, page, ttlMs, now: svc.now(), secrets: p.secrets });
    s.log.info('Portal link made', { customerId: customer.id, page, expiresAt: new Date(claims.expiresAt).toISOString(), by: req.principal?.name });
    return {
      url: portalLinkUrl(base, token), customerId: customer.id, page: claims.page, expiresAt: new Date(claims.expiresAt).toISOString(),
      ttlSeconds: Math.round((claims.expiresAt - claims.issuedAt) / 1000), singleUse: true,
    };
  });
}

export function registerPortal(app: FastifyInstance, svc: ServerService, s: RouteSettings, p: PortalOptions, shared: ConsoleShared): void {
  registerLinkApi(app, svc, s, p);
  const sessions = new SessionStore(() => svc.now(), { ...SESSION_LIMITS, ...p.sessions });
  const used = p.used ?? new MemoryUsedLinks();
  const retention = s.retention ?? DEFAULT_RETENTION_RULE;
  const originOf = browserOrigin(s);
  const { log } = s;

  const cookieOf = (req: FastifyRequest) => (originOf(req).secure ? SECURE_COOKIE : COOKIE);
  const who = (req: FastifyRequest): Principal & { customerId: string } => (req.portalSession as Session).principal as Principal & { customerId: string };
  const actor = (req: FastifyRequest) => `api:${who(req).name}`;

  void app.register(async (scope) => {
    const [script, style] = await Promise.all([readFile(new URL('portal.js', ASSETS), 'utf8'), readFile(new URL('portal.css', ASSETS), 'utf8')]);
    await scope.register(cookie);
    acceptForms(scope);

    scope.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/portal')) return;
      void reply.headers({
        'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin',
        'cross-origin-opener-policy': 'same-origin', 'cache-control': 'no-store', ...(originOf(req).secure ? { 'strict-transport-security': 'max-age=31536000' } : {}),
      });
      const session = sessions.get(req.cookies[cookieOf(req)]);
      if (session) {
        req.portalSession = session;
        req.principal = session.principal;
      }
      if (!req.routeOptions.config.portal) return;
      if (!session) {
        if (req.method === 'GET') return reply.redirect('/portal/sign-in', 303);
        throw new UnauthorizedError('not signed in, or the session has ended');
      }
    });

    scope.addHook('preHandler', async (req) => {
      if (req.method === 'GET' || req.method === 'HEAD' || req.routeOptions.url === '/portal/sign-in') return;
      const sent = req.headers['x-csrf-token'] ?? (req.body as Form | undefined)?._csrf;
      if (!req.portalSession || !csrfMatches(req.portalSession, sent)) throw new UsageError('this form has expired: reload the page and try again');
    });

    scope.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
      let status = 500;
      let name: ErrorName = 'internal';
      let message = '';
      if (err instanceof CliError) {
        name = err.errorName;
        status = httpStatusForErrorName(name);
        message = err.message;
      } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        status = err.statusCode;
        name = 'invalid_request';
        message = `invalid request (HTTP ${status})`;
      }
      if (status >= 500) log.error(`${req.method} ${req.url.split('?')[0] ?? ''} failed (portal)`, { error: errorMessage(err), by: req.principal?.name });
      const text = ownerError(name, message, (req.params as { id?: unknown } | undefined)?.id, shared.ownerSecrets());
      if (req.method === 'POST') {
        if (!req.portalSession) return reply.redirect('/portal/sign-in?error=expired', 303);
        req.portalSession.flash = { kind: 'error', text };
        return reply.redirect('/portal', 303);
      }
      if (req.url.endsWith('/status')) return reply.code(status).send({ error: name, message: text });
      return page(reply.code(status), req, status === 404 ? 'Not found' : 'Error', errorPage(status, text));
    });

    function page(reply: FastifyReply, req: FastifyRequest, title: string, body: ReturnType<typeof errorPage>, flash?: PortalFlash | null) {
      const sess = req.portalSession;
      return reply.type('text/html; charset=utf-8').send(portalLayout({
        title, site: p.site, ...(sess ? { csrf: sess.csrf, signedIn: sess.principal.customerId ?? '' } : {}), ...(flash ? { flash } : {}),
      }, body));
    }

    function takeFlash(req: FastifyRequest): PortalFlash | null {
      const sess = req.portalSession;
      const f = sess?.flash;
      if (!sess || !f) return null;
      delete sess.flash;
      return { kind: f.kind, text: f.text };
    }

    /** Signs in as this principal: a new session, its cookie, the page. */
    function signIn(req: FastifyRequest, reply: FastifyReply, principal: Principal, to: string) {
      const { secure } = originOf(req);
      const name = secure ? SECURE_COOKIE : COOKIE;
      sessions.destroy(req.cookies[name]);
      const { id } = sessions.create(principal);
      req.principal = principal;
      log.info('portal sign-in', { customerId: principal.customerId, by: principal.name });
      void reply.setCookie(name, id, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: sessions.cookieMaxAgeSeconds() });
      return reply.redirect(to, 303);
    }

    /** A job of the signed-in customer; another customer's and a missing one read the same. */
    async function ownJob(req: FastifyRequest, raw: string): Promise<Job> {
      if (!isJobId(raw)) throw new InvalidIdError('that is not a request number');
      const job = await svc.job(raw);
      if (!job || !kindFacts(job.name).holdsCustomerRow || job.data.customerId !== who(req).customerId) throw new NotFoundError(`job ${raw} not found`);
      return job;
    }

    /** The customer's latest deletion job (the one its row names, else the newest). */
    async function latestDeletion(row: CustomerRow): Promise<Job | null> {
      const held = row.deletionJobId ? await svc.job(row.deletionJobId) : null;
      if (held && held.data.customerId === row.customerId) return held;
      const all = (await svc.jobs({ customerId: row.customerId })).filter((j) => kindFacts(j.name).holdsCustomerRow).sort((a, b) => Number(b.id) - Number(a.id));
      return all[0] ?? null;
    }

    async function ownRow(req: FastifyRequest): Promise<CustomerRow> {
      const row = await svc.row(who(req).customerId);
      if (!row) throw new NotFoundError(`customer ${who(req).customerId} not found`);
      return row;
    }

    scope.get('/portal/static/portal.js', async (_req, reply) => reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8').send(script));
    scope.get('/portal/static/portal.css', async (_req, reply) => reply.header('cache-control', 'no-cache').type('text/css; charset=utf-8').send(style));

    // Opening a link shows a button (a mail scanner's GET uses nothing up); the button's POST signs in.
    scope.get<{ Querystring: Form }>('/portal/sign-in', async (req, reply) => {
      const token = req.query.token;
      if (token === undefined) {
        const error = Object.hasOwn(SIGN_IN_ERRORS, req.query.error ?? '') ? (req.query.error as SignInError) : undefined;
        return page(reply, req, 'Sign in', signInPage(error ? { error } : {}));
      }
      if (!p.secrets) return page(reply.code(401), req, 'Sign in', signInPage({ refused: 'sign-in links are not set up on this server' }));
      const check = verifyPortalToken(token, p.secrets, svc.now());
      if (!check.ok) {
        shared.failures.fail(req.ip, `portal sign-in link refused: ${check.reason}`);
        shared.quiet(req);
        return page(reply.code(401), req, 'Sign in', signInPage({ refused: check.message }));
      }
      return page(reply, req, 'Sign in', signInPage({ token, customerId: check.claims.customerId, expiresAt: check.claims.expiresAt }));
    });

    scope.post<{ Body: Form }>('/portal/sign-in', async (req, reply) => {
      const form = req.body ?? {};
      const again = (error: SignInError) => reply.redirect(`/portal/sign-in?error=${error}`, 303);
      if (shared.failures.retryAfter(req.ip) > 0) {
        shared.quiet(req);
        return again('wait');
      }
      if (!sameOrigin(req.headers, originOf(req).origin)) {
        shared.failures.fail(req.ip, 'portal sign-in refused: it did not come from this portal');
        shared.quiet(req);
        return again('origin');
      }
      if (typeof form.link === 'string' && form.link !== '') {
        const check = p.secrets ? await redeemPortalToken(form.link, p.secrets, svc.now(), used) : { ok: false as const, reason: 'signature' as const, message: 'sign-in links are not set up on this server' };
        if (!check.ok) {
          shared.failures.fail(req.ip, `portal sign-in link refused: ${check.reason}`);
          shared.quiet(req);
          return page(reply.code(401), req, 'Sign in', signInPage({ refused: check.message }));
        }
        return signIn(req, reply, portalPrincipal(check.claims.customerId), PAGE_ANCHOR[check.claims.page]);
      }
      const principal = typeof form.token === 'string' && form.token !== '' ? authenticate(s.tokens, form.token.trim()) : null;
      // the portal is the account owner's: an operator's token signs in to the console, not here
      if (!principal || principal.role !== 'owner' || !principal.customerId) {
        shared.failures.fail(req.ip, 'unknown or wrong token at the portal sign-in');
        shared.quiet(req);
        return again('token');
      }
      return signIn(req, reply, principal, '/portal');
    });

    scope.post('/portal/sign-out', { config: { portal: true } }, async (req, reply) => {
      const name = cookieOf(req);
      sessions.destroy(req.cookies[name]);
      void reply.clearCookie(name, { path: '/', httpOnly: true, sameSite: 'strict', secure: name === SECURE_COOKIE });
      return reply.redirect('/portal/sign-in', 303);
    });

    scope.get('/portal', { config: { portal: true } }, async (req, reply) => {
      const row = await ownRow(req);
      const job = await latestDeletion(row);
      const now = svc.now();
      const sess = req.portalSession as Session;
      const body = accountPage({
        customerId: row.customerId, company: row.companyName, url: row.instanceUrl, state: accountState(row, job, who(req), now),
        retentionMs: ownerDefaultRetention(retention), minRetentionMs: retention.ownerMinMs, now,
        job: job ? ownerJob(job, who(req).name) : null, certificate: job !== null && certificateOfJob(job) !== null,
        exportAvailable: p.export !== undefined && row.deploymentStatus !== 'pending', csrf: sess.csrf,
      });
      return page(reply, req, 'Your account', body, takeFlash(req));
    });

    scope.post<{ Body: Form }>('/portal/delete', { config: { portal: true } }, async (req, reply) => {
      const form = req.body ?? {};
      const customer = parseCustomerId(who(req).customerId);
      const sess = req.portalSession as Session;
      const typed = (form.confirm ?? '').trim();
      if (typed !== customer.id) {
        sess.flash = { kind: 'error', text: `You typed ${typed === '' ? 'nothing' : `"${typed.slice(0, 60)}"`}, not your account ID ${customer.id}: nothing was scheduled.` };
        return reply.redirect('/portal#delete', 303);
      }
      const afterRaw = (form.after ?? '').trim();
      const afterMs = ownerRetention(retention, afterRaw === '' ? undefined : parseRetention(afterRaw, 'The retention period'));
      const job = await svc.submit(customer, actor(req), { afterMs });
      log.info('Deletion scheduled (portal)', { customerId: customer.id, job: job.id, by: who(req).name });
      sess.flash = { kind: 'ok', text: `Your deletion is scheduled${job.data.scheduledFor !== undefined ? ` for ${new Date(job.data.scheduledFor).toUTCString().replace(' GMT', ' UTC')}` : ''}. Your app is paused until then; you can cancel here.` };
      return reply.redirect('/portal', 303);
    });

    scope.post('/portal/cancel', { config: { portal: true } }, async (req, reply) => {
      const customer = parseCustomerId(who(req).customerId);
      if (!svc.cancel) throw new UsageError('cancelling is not available here: contact us');
      const r = await svc.cancel({ customer }, cancellerOf(who(req)));
      log.info('Deletion cancelled (portal)', { customerId: customer.id, job: r.jobId, restored: r.restored.length, by: who(req).name });
      (req.portalSession as Session).flash = r.deletionStarted
        ? { kind: 'error', text: 'The deletion had already started: it was stopped, but part of your account may be gone. We have been told and will contact you.' }
        : { kind: 'ok', text: 'The deletion is cancelled: your app runs again and nothing was deleted.' };
      return reply.redirect('/portal', 303);
    });

    scope.post<{ Body: Form }>('/portal/export', { config: { portal: true } }, async (req, reply) => {
      if (!p.export) throw new UsageError('exports are not available here: contact us');
      const passphrase = (req.body?.passphrase ?? '');
      if (passphrase !== '' && passphrase.length < 12) throw new UsageError('the passphrase must be at least 12 characters: nothing was exported');
      const customer = parseCustomerId(who(req).customerId);
      const out = await p.export(customer, { ...(passphrase !== '' ? { passphrase } : {}), actor: actor(req) });
      log.info('Export downloaded (portal)', { customerId: customer.id, bytes: out.bytes.length, encrypted: passphrase !== '' || undefined, by: who(req).name });
      return reply.header('content-disposition', `attachment; filename="${out.name}"`).type(passphrase !== '' ? 'application/octet-stream' : 'application/gzip').send(out.bytes);
    });

    scope.get<{ Params: { id: string } }>('/portal/jobs/:id', { config: { portal: true } }, async (req, reply) => {
      const job = await ownJob(req, req.params.id);
      return page(reply, req, `Request ${job.id}`, jobPage(ownerJob(job, who(req).name), certificateOfJob(job) !== null));
    });

    // the job as the page's script polls it: state, progress, dates; nothing else
    scope.get<{ Params: { id: string } }>('/portal/jobs/:id/status', { config: { portal: true } }, async (req) => {
      const job = ownerJob(await ownJob(req, req.params.id), who(req).name);
      return {
        id: job.id, state: job.state, cancelled: job.failedReason === 'cancelled', progress: job.progress,
        dueAt: job.data.scheduledFor !== undefined ? new Date(job.data.scheduledFor).toISOString() : null,
        finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      };
    });

    scope.get<{ Params: { id: string } }>('/portal/jobs/:id/certificate', { config: { portal: true } }, async (req, reply) => {
      const job = await ownJob(req, req.params.id);
      const cert = certificateOfJob(job);
      if (!cert) throw new NotFoundError(`job ${job.id} has no certificate yet`);
      return reply.header('content-disposition', `attachment; filename="deletion-certificate-${job.id}.json"`).type('application/json; charset=utf-8').send(`${JSON.stringify(cert, null, 2)}\n`);
    });
  });
}
