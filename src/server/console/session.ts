/**
 * Console sessions: an API token is exchanged once, at sign-in, for a random session id that the
 * browser keeps in an HttpOnly cookie; the token itself is never stored (not here, not in the page,
 * not in the browser). Sessions live in this process's memory: a restart of `serve` signs everyone
 * out, and several `serve` instances behind one address need sticky routing. Each session has
 * its own CSRF token (the synchronizer token pattern): a state-changing request must carry it in
 * the `x-csrf-token` header or the `_csrf` form field, compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../auth.js';

export interface SessionLimits {
  /** a session unused this long is gone, ms (every request renews it) */
  idleMs: number;
  /** a session is gone this long after sign-in, however busy, ms */
  absoluteMs: number;
  /** at most this many sessions at once; beyond it, the principal holding the most loses its least recently used */
  max: number;
  /** at most this many sessions of one principal (token); its next sign-in ends its oldest */
  perPrincipal: number;
}

export const SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 8 * 3_600_000, max: 10_000, perPrincipal: 20 };

export interface Session {
  principal: Principal;
  /** the synchronizer token of this session (sent in pages, never in a cookie) */
  csrf: string;
  createdAt: number;
  lastSeen: number;
  /** what the next page shows once (the answer of a POST, which is always a redirect) */
  flash?: Flash;
}

/** A one-time message for the next page: the outcome of a form post (POST-redirect-GET). */
export interface Flash {
  kind: 'ok' | 'error';
  text: string;
  details?: readonly string[];
  /** the delete dialog opens again with what was typed */
  dialog?: { typed: string; after: string };
  /** a sweep's report, shown once on the RBAC page */
  data?: unknown;
}

/** A random 256-bit value, base64url (43 characters). */
export const randomToken = (): string => randomBytes(32).toString('base64url');

const digest = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

export class SessionStore {
  /** keyed by the SHA-256 of the session id, so a heap dump shows no usable cookie */
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly now: () => number,
    readonly limits: SessionLimits = SESSION_LIMITS,
    private readonly random: () => string = randomToken,
  ) {}

  /**
   * Signs in: a new session id (the cookie's value) and its session. A principal already at its
   * cap loses its own oldest session; when the store is full, the principal holding the most
   * sessions loses its least recently used. One token's sign-ins never end another token's sessions
   * while that other token holds no more than this one.
   */
  create(principal: Principal): { id: string; session: Session } {
    this.prune();
    const mine = [...this.sessions].filter(([, s]) => s.principal.name === principal.name);
    if (mine.length >= this.limits.perPrincipal) {
      mine.sort(([, a], [, b]) => a.createdAt - b.createdAt);
      for (const [k] of mine.slice(0, mine.length - this.limits.perPrincipal + 1)) this.sessions.delete(k);
    }
    while (this.sessions.size >= this.limits.max) {
      const k = this.leastRecentOfBusiest();
      if (k === undefined) break;
      this.sessions.delete(k);
    }
    const id = this.random();
    const t = this.now();
    const session: Session = { principal, csrf: this.random(), createdAt: t, lastSeen: t };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** How many live sessions this principal (token name) holds. */
  countOf(name: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.principal.name === name) n++;
    return n;
  }

  /** The least recently used session of the principal that holds the most (Map order: least recently used first). */
  private leastRecentOfBusiest(): string | undefined {
    const counts = new Map<string, number>();
    for (const s of this.sessions.values()) counts.set(s.principal.name, (counts.get(s.principal.name) ?? 0) + 1);
    let busiest: string | undefined;
    let most = 0;
    for (const [name, n] of counts) if (n > most) [busiest, most] = [name, n];
    for (const [k, s] of this.sessions) if (s.principal.name === busiest) return k;
    return undefined;
  }

  /** The live session of a cookie value (renewed: last seen now), or null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const key = digest(id);
    const s = this.sessions.get(key);
    if (!s) return null;
    const t = this.now();
    if (this.expired(s, t)) {
      this.sessions.delete(key);
      return null;
    }
    s.lastSeen = t;
    // Map order is insertion order: re-inserting keeps the least recently used first
    this.sessions.delete(key);
    this.sessions.set(key, s);
    return s;
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Seconds the cookie may live: until the idle limit (the session renews it on every page). */
  cookieMaxAgeSeconds(): number {
    return Math.floor(this.limits.idleMs / 1000);
  }

  private expired(s: Session, t: number): boolean {
    return t - s.lastSeen >= this.limits.idleMs || t - s.createdAt >= this.limits.absoluteMs;
  }

  private prune(): void {
    const t = this.now();
    for (const [k, s] of this.sessions) if (this.expired(s, t)) this.sessions.delete(k);
  }
}

/** The CSRF check of a state-changing request: true only for the session's own token. */
export function csrfMatches(session: Pick<Session, 'csrf'>, sent: unknown): boolean {
  if (typeof sent !== 'string' || sent.length === 0 || sent.length > 200) return false;
  const a = Buffer.from(sent, 'utf8');
  const b = Buffer.from(session.csrf, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A sign-in (which has no session yet, so no synchronizer token) must come from this console's
 * origin: refused when the browser says the request is cross-site (`Sec-Fetch-Site`) or its
 * `Origin` is another origin than `expected` (the public origin behind a proxy, else the scheme
 * and Host the request was sent with). A client that sends neither is not a browser page.
 */
export function sameOrigin(headers: { origin?: string | undefined; 'sec-fetch-site'?: string | undefined }, expected: string | null): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  return expected !== null && origin === expected;
}
