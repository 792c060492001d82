/**
 * Portal sign-in links: made and checked with the server's secret; refused when changed, made with
 * another secret, expired, not yet valid, claiming a lifetime no link may have, malformed, or used
 * already (single use at the exchange); lifetimes bounded; rotation through a secrets file; the
 * portal's base URL.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MAX_LINK_TTL_MS, MemoryUsedLinks, MIN_LINK_TTL_MS, mintPortalToken, parsePortalBaseUrl, parsePortalSecrets, portalLinkUrl,
  redeemPortalToken, verifyPortalToken, type PortalSecrets,
} from '../../src/domain/portal-link.js';

const secrets = parsePortalSecrets('# the portal secret\nq7d1kXzv3p0bRZC2c4WmNQ8a5sJYt6Lh9eFgUoViKwSx\n', 'test');
const other = parsePortalSecrets('another-secret-another-secret-another-secret', 'test');
const now = Date.parse('2026-12-01T12:00:00Z');
const HOUR = 3_600_000;

const mint = (over: Partial<Parameters<typeof mintPortalToken>[0]> = {}) => mintPortalToken({ customerId: 'cust_abc123', ttlMs: HOUR, now, secrets, ...over });

/** A token with the payload given, MAC'd with the secret: what only the secret's holder can make. */
function forged(payload: Record<string, unknown>, s: PortalSecrets = secrets): string {
  const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const mac = createHmac('sha256', s.current).update('custctl-portal-link/1\n').update(encoded).digest('base64url');
  return `v1.${encoded}.${mac}`;
}

describe('mint and verify', () => {
  it('a fresh link names the customer, the page, its times and a random nonce', () => {
    const { token, claims } = mint({ page: 'cancel' });
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(claims).toMatchObject({ customerId: 'cust_abc123', page: 'cancel', issuedAt: now, expiresAt: now + HOUR });
    expect(claims.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(mint().claims.nonce).not.toBe(mint().claims.nonce);
    expect(verifyPortalToken(token, secrets, now + HOUR - 1)).toEqual({ ok: true, claims });
    expect(portalLinkUrl('https://portal.example.com', token)).toBe(`https://portal.example.com/portal/sign-in?token=${token}`);
  });

  it('expires at its time, not a millisecond later', () => {
    const { token } = mint();
    expect(verifyPortalToken(token, secrets, now + HOUR)).toMatchObject({ ok: false, reason: 'expired' });
    expect(verifyPortalToken(token, secrets, now + 10 * HOUR)).toMatchObject({ ok: false, reason: 'expired', message: expect.stringMatching(/expired at 2026-12-01T13:00:00.000Z: ask for a new one/) });
  });

  it('is refused when any part of it changed', () => {
    const { token } = mint();
    const [v, payload, mac] = token.split('.') as [string, string, string];
    const otherCustomer = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('cust_abc123', 'cust_abc124')).toString('base64url');
    const longer = Buffer.from(Buffer.from(payload, 'base64url').toString().replace(/"exp":\d+/, `"exp":${Math.floor(now / 1000) + 86_400}`)).toString('base64url');
    const flipped = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`;
    for (const t of [`${v}.${otherCustomer}.${mac}`, `${v}.${longer}.${mac}`, `${v}.${payload}.${flipped}`]) {
      expect(verifyPortalToken(t, secrets, now)).toMatchObject({ ok: false, reason: 'signature' });
    }
  });

  it('is refused under another secret; a secrets file accepts every secret it holds and makes links with the first', () => {
    const { token } = mint();
    expect(verifyPortalToken(token, other, now)).toMatchObject({ ok: false, reason: 'signature' });
    const rotated = parsePortalSecrets(`${other.current.toString()}\n${secrets.current.toString()}\n`, 'rotated');
    expect(verifyPortalToken(token, rotated, now).ok).toBe(true);
    const fresh = mintPortalToken({ customerId: 'cust_abc123', ttlMs: HOUR, now, secrets: rotated }).token;
    expect(verifyPortalToken(fresh, other, now).ok).toBe(true);
    expect(verifyPortalToken(fresh, secrets, now).ok).toBe(false);
  });

  it('a token claiming more than 7 days, or made in the future, is refused even with a valid MAC', () => {
    const iat = Math.floor(now / 1000);
    const base = { c: 'cust_abc123', p: 'overview', n: 'AAAAAAAAAAAAAAAAAAAAAA' };
    expect(verifyPortalToken(forged({ ...base, iat, exp: iat + 7 * 86_400 + 1 }), secrets, now)).toMatchObject({ ok: false, reason: 'lifetime' });
    expect(verifyPortalToken(forged({ ...base, iat, exp: iat }), secrets, now)).toMatchObject({ ok: false, reason: 'lifetime' });
    expect(verifyPortalToken(forged({ ...base, iat: iat + 120, exp: iat + 3600 }), secrets, now)).toMatchObject({ ok: false, reason: 'not-yet-valid' });
    // a little clock skew is fine
    expect(verifyPortalToken(forged({ ...base, iat: iat + 30, exp: iat + 3600 }), secrets, now).ok).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['another version', 'v2.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['two parts', 'v1.e30'],
    ['four parts', 'v1.e30.x.y'],
    ['not base64url', 'v1.e30!.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['too long', `v1.${'A'.repeat(2000)}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`],
  ])('a token that is %s is malformed', (_what, token) => {
    expect(verifyPortalToken(token, secrets, now)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it.each([
    ['a bad customer id', { c: 'cust_ABC', p: 'overview', n: 'AAAAAAAAAAAAAAAAAAAAAA' }],
    ['an unknown page', { c: 'cust_abc', p: 'admin', n: 'AAAAAAAAAAAAAAAAAAAAAA' }],
    ['no nonce', { c: 'cust_abc', p: 'overview' }],
  ])('a MAC-valid payload with %s is malformed', (_what, p) => {
    const iat = Math.floor(now / 1000);
    expect(verifyPortalToken(forged({ ...p, iat, exp: iat + 60 }), secrets, now)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('lifetimes: 5 minutes to 7 days', () => {
    expect(() => mint({ ttlMs: MIN_LINK_TTL_MS - 1000 })).toThrow(/between 5 minutes and 7 days/);
    expect(() => mint({ ttlMs: MAX_LINK_TTL_MS + 1000 })).toThrow(/between 5 minutes and 7 days/);
    expect(mint({ ttlMs: MIN_LINK_TTL_MS }).claims.expiresAt).toBe(now + MIN_LINK_TTL_MS);
    expect(mint({ ttlMs: MAX_LINK_TTL_MS }).claims.expiresAt).toBe(now + MAX_LINK_TTL_MS);
    expect(() => mint({ customerId: 'cust_ABC' })).toThrow(/not a customer id/);
  });
});

describe('single use at the exchange', () => {
  it('the first exchange succeeds, the next is refused; opening (verify) does not use it up', async () => {
    const used = new MemoryUsedLinks();
    const { token } = mint();
    // a mail scanner opens the link: the page is shown, nothing is used
    expect(verifyPortalToken(token, secrets, now + 1000).ok).toBe(true);
    expect(verifyPortalToken(token, secrets, now + 2000).ok).toBe(true);
    expect((await redeemPortalToken(token, secrets, now + 3000, used)).ok).toBe(true);
    expect(await redeemPortalToken(token, secrets, now + 4000, used)).toMatchObject({ ok: false, reason: 'used', message: expect.stringMatching(/used already/) });
    // another link of the same customer is a link of its own
    expect((await redeemPortalToken(mint().token, secrets, now + 5000, used)).ok).toBe(true);
  });

  it('an invalid token is not remembered; a used nonce is forgotten once its link would have expired', async () => {
    const used = new MemoryUsedLinks();
    expect((await redeemPortalToken('v1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', secrets, now, used)).ok).toBe(false);
    expect(used.size).toBe(0);
    await redeemPortalToken(mint().token, secrets, now, used);
    expect(used.size).toBe(1);
    await used.claim('x', now + 2 * HOUR, now + HOUR + 1);
    expect(used.size).toBe(1);
  });
});

describe('configuration', () => {
  it('secrets: at least 32 characters each; comments and blank lines ignored; none is an error', () => {
    expect(() => parsePortalSecrets('short', 'F')).toThrow(/shorter than 32/);
    expect(() => parsePortalSecrets('# only a comment\n\n', 'F')).toThrow(/holds no secret/);
    expect(parsePortalSecrets(`${'a'.repeat(32)}\r\n${'b'.repeat(40)}\n`, 'F').accepted.map((b) => b.length)).toEqual([32, 40]);
  });

  it.each([
    ['https://portal.example.com/', 'https://portal.example.com'],
    ['https://example.com/custctl/', 'https://example.com/custctl'],
    ['http://127.0.0.1:3100', 'http://127.0.0.1:3100'],
    ['http://localhost:3100/x', 'http://localhost:3100/x'],
  ])('base URL %s → %s', (raw, want) => {
    expect(parsePortalBaseUrl(raw)).toBe(want);
  });

  it.each([
    ['http on a network host', 'http://portal.example.com', /https/],
    ['credentials', 'https://u:p@portal.example.com', /credentials/],
    ['a query', 'https://portal.example.com/?a=1', /query or fragment/],
    ['a fragment', 'https://portal.example.com/#x', /query or fragment/],
    ['not a URL', 'portal.example.com', /not a URL/],
    ['another scheme', 'ftp://portal.example.com', /https/],
  ])('base URL with %s is refused', (_what, raw, msg) => {
    expect(() => parsePortalBaseUrl(raw)).toThrow(msg);
  });
});
