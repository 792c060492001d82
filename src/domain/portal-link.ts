/**
 * Portal sign-in links: a short-lived, signed link for one customer that `custctl serve` exchanges
 * for a portal session, so a customer never holds a long-lived API token.
 *
 * Signed with HMAC-SHA256 under a server secret (CUSTCTL_PORTAL_SECRET_FILE, or
 * CUSTCTL_PORTAL_SECRET), not with the certificate key: the link is made and checked by the same
 * party (the server, or the operator's CLI sharing its secret), so nothing needs a public key;
 * the MAC is half the size of an ed25519 signature; and the certificate key stays single-purpose
 * (a customer holding certificates signed by it learns nothing that helps forge a link, and a
 * leaked link secret cannot sign certificates). The secrets file may hold several secrets, one a
 * line: the first makes links, every one is accepted (rotation without breaking links in flight).
 *
 * The token: `v1.<payload>.<mac>`, base64url. The payload (JSON) names the customer, the page the
 * link opens, when it was made and when it expires (seconds), and a random nonce; the MAC covers a
 * context line and the encoded payload, so nothing in it can be changed or reused for another
 * purpose. Lifetimes are bounded: at least 5 minutes, at most 7 days (default 1 hour).
 *
 * Single use, at the exchange only. Mail scanners (Safe Links, Proofpoint, …) open every link in a
 * message before the customer does: a link used up by a GET would be used up by the scanner. So
 * opening the link shows a page with a button, and the button's POST exchanges the token for a
 * session and marks its nonce used (UsedLinks) until the token would have expired: a link
 * forwarded, found in a browser's history or in a proxy's log after that is refused. A customer
 * who needs another session asks for another link.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PORTAL_LINK_VERSION = 'v1';
const MAC_CONTEXT = 'custctl-portal-link/1\n';

export const MIN_LINK_TTL_MS = 5 * 60_000;
export const MAX_LINK_TTL_MS = 7 * 86_400_000;
export const DEFAULT_LINK_TTL_MS = 3_600_000;
/** A token made this far in the future is still accepted (clocks of two servers differ a little). */
export const CLOCK_SKEW_MS = 60_000;
/** A secret shorter than this is refused: HMAC-SHA256 wants 256 bits of key. */
export const MIN_SECRET_LENGTH = 32;
/** Longer tokens are refused before anything is decoded. */
export const MAX_TOKEN_LENGTH = 1024;

/** The portal page a link opens. */
export const PORTAL_PAGES = ['overview', 'delete', 'cancel', 'export'] as const;
export type PortalPage = (typeof PORTAL_PAGES)[number];

/** The path a link points at, under the portal's base URL. */
export const SIGN_IN_PATH = '/portal/sign-in';

export interface PortalSecrets {
  /** makes new links */
  readonly current: Buffer;
  /** every secret a link may have been made with (current first) */
  readonly accepted: readonly Buffer[];
}

export class PortalConfigError extends Error {}

/** The secrets from a secrets file's text: one a line, blank lines and `#` comments ignored. */
export function parsePortalSecrets(text: string, where: string): PortalSecrets {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new PortalConfigError(`${where} holds no secret`);
  const short = lines.findIndex((l) => l.length < MIN_SECRET_LENGTH);
  if (short >= 0) throw new PortalConfigError(`${where}: secret ${short + 1} is shorter than ${MIN_SECRET_LENGTH} characters (make one with: openssl rand -base64 48)`);
  const accepted = lines.map((l) => Buffer.from(l, 'utf8'));
  return { current: accepted[0] as Buffer, accepted };
}

export interface PortalLinkClaims {
  customerId: string;
  page: PortalPage;
  /** ms */
  issuedAt: number;
  /** ms */
  expiresAt: number;
  /** base64url, 16 random bytes: what a used link is remembered by */
  nonce: string;
}

interface Payload {
  c: string;
  p: string;
  iat: number;
  exp: number;
  n: string;
}

const b64url = (b: Buffer) => b.toString('base64url');

function mac(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(MAC_CONTEXT).update(payload).digest();
}

/** A lifetime that is not between the bounds is refused with the bounds. */
export function checkLinkTtl(ttlMs: number, flag = '--ttl'): void {
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_LINK_TTL_MS || ttlMs > MAX_LINK_TTL_MS) {
    throw new PortalConfigError(`${flag}: a portal link lives between 5 minutes and 7 days (e.g. 1h, 2d)`);
  }
}

const CUSTOMER_ID = /^cust_[a-z0-9]{1,44}$/;

export function mintPortalToken(o: { customerId: string; page?: PortalPage; ttlMs: number; now: number; secrets: PortalSecrets; nonce?: Buffer }): { token: string; claims: PortalLinkClaims } {
  if (!CUSTOMER_ID.test(o.customerId)) throw new PortalConfigError(`${JSON.stringify(o.customerId.slice(0, 60))} is not a customer id`);
  checkLinkTtl(o.ttlMs);
  const page = o.page ?? 'overview';
  if (!(PORTAL_PAGES as readonly string[]).includes(page)) throw new PortalConfigError(`unknown portal page ${JSON.stringify(page)}`);
  const iat = Math.floor(o.now / 1000);
  const exp = iat + Math.floor(o.ttlMs / 1000);
  const nonce = b64url(o.nonce ?? randomBytes(16));
  const payload: Payload = { c: o.customerId, p: page, iat, exp, n: nonce };
  const encoded = b64url(Buffer.from(JSON.stringify(payload), 'utf8'));
  const token = `${PORTAL_LINK_VERSION}.${encoded}.${b64url(mac(o.secrets.current, encoded))}`;
  return { token, claims: { customerId: o.customerId, page, issuedAt: iat * 1000, expiresAt: exp * 1000, nonce } };
}

export type LinkRefusal = 'malformed' | 'signature' | 'expired' | 'not-yet-valid' | 'lifetime' | 'used';

export type LinkCheck = { ok: true; claims: PortalLinkClaims } | { ok: false; reason: LinkRefusal; message: string };

const refuse = (reason: LinkRefusal, message: string): LinkCheck => ({ ok: false, reason, message });

/**
 * Checks a token: its form, its MAC under any accepted secret (constant time), then its times.
 * The messages are for the person holding the link and say nothing of the secret.
 */
export function verifyPortalToken(token: string, secrets: PortalSecrets, now: number): LinkCheck {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return refuse('malformed', 'this is not a sign-in link');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PORTAL_LINK_VERSION) return refuse('malformed', 'this is not a sign-in link');
  const [, encoded, given] = parts as [string, string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(encoded) || !/^[A-Za-z0-9_-]{43}$/.test(given)) return refuse('malformed', 'this is not a sign-in link');
  const got = Buffer.from(given, 'base64url');
  const valid = secrets.accepted.some((s) => {
    const want = mac(s, encoded);
    return got.length === want.length && timingSafeEqual(got, want);
  });
  if (!valid) return refuse('signature', 'this sign-in link is not valid (it was changed, or made for another site)');
  let p: Payload;
  try {
    p = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Payload;
  } catch {
    return refuse('malformed', 'this is not a sign-in link');
  }
  if (typeof p !== 'object' || p === null || typeof p.c !== 'string' || !CUSTOMER_ID.test(p.c) || typeof p.p !== 'string' || !(PORTAL_PAGES as readonly string[]).includes(p.p)
    || !Number.isSafeInteger(p.iat) || !Number.isSafeInteger(p.exp) || typeof p.n !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(p.n)) {
    return refuse('malformed', 'this is not a sign-in link');
  }
  const claims: PortalLinkClaims = { customerId: p.c, page: p.p as PortalPage, issuedAt: p.iat * 1000, expiresAt: p.exp * 1000, nonce: p.n };
  if (claims.expiresAt - claims.issuedAt > MAX_LINK_TTL_MS || claims.expiresAt <= claims.issuedAt) return refuse('lifetime', 'this sign-in link claims a lifetime no link may have');
  if (claims.issuedAt > now + CLOCK_SKEW_MS) return refuse('not-yet-valid', 'this sign-in link is not valid yet (check the server clock)');
  if (now >= claims.expiresAt) return refuse('expired', `this sign-in link expired at ${new Date(claims.expiresAt).toISOString()}: ask for a new one`);
  return { ok: true, claims };
}

/** Where used links are remembered until they would have expired anyway. */
export interface UsedLinks {
  /** Marks the nonce used; false when it was used already. */
  claim(nonce: string, expiresAt: number, now: number): Promise<boolean>;
}

/**
 * UsedLinks in this process's memory. Enough for one `serve` process; several behind a load
 * balancer need one shared store (the database or Redis), else a link could be used once on each.
 */
export class MemoryUsedLinks implements UsedLinks {
  private readonly used = new Map<string, number>();

  async claim(nonce: string, expiresAt: number, now: number): Promise<boolean> {
    for (const [n, exp] of this.used) if (exp <= now) this.used.delete(n);
    if (this.used.has(nonce)) return false;
    this.used.set(nonce, expiresAt);
    return true;
  }

  get size(): number {
    return this.used.size;
  }
}

/** The exchange (the POST): a valid token whose nonce has not been used; marks it used. */
export async function redeemPortalToken(token: string, secrets: PortalSecrets, now: number, used: UsedLinks): Promise<LinkCheck> {
  const check = verifyPortalToken(token, secrets, now);
  if (!check.ok) return check;
  if (!(await used.claim(check.claims.nonce, check.claims.expiresAt, now))) {
    return refuse('used', 'this sign-in link was used already: ask for a new one');
  }
  return check;
}

/**
 * The portal's base URL (`--base-url`, CUSTCTL_PORTAL_URL): https, or http on a loopback host
 * only (a sign-in token must not cross a network in clear text); no credentials, query or fragment.
 */
export function parsePortalBaseUrl(raw: string, source = '--base-url'): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new PortalConfigError(`${source} ${JSON.stringify(raw.slice(0, 80))} is not a URL (e.g. https://portal.example.com)`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new PortalConfigError(`${source} must be https:// (http:// only on a loopback host): a sign-in link must not travel in clear text`);
  if (u.username || u.password) throw new PortalConfigError(`${source}: credentials in the URL are refused`);
  if (u.search || u.hash || raw.includes('?') || raw.includes('#')) throw new PortalConfigError(`${source}: a query or fragment is refused: the link adds its own`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export function portalLinkUrl(base: string, token: string): string {
  return `${base}${SIGN_IN_PATH}?token=${encodeURIComponent(token)}`;
}
