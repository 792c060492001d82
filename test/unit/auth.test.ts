import { describe, expect, it } from 'vitest';
import * as crypto from 'node:crypto';
import { ForbiddenError, NotFoundError, UnauthorizedError, UsageError } from '../../src/errors.js';
import { authenticate, authorize, bearerToken, loadTokens, parseTokensFile, sha256Hex } from '../../src/server/auth.js';

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const FILE = [
  '# custctl API tokens',
  '',
  `ci-bot:admin:${sha256Hex(ADMIN)}`,
  `  grafana : viewer : ${sha256Hex(VIEWER).toUpperCase()}  `,
].join('\n');

describe('parseTokensFile', () => {
  it('reads name:role:sha256hex lines, skipping comments and blanks', () => {
    const set = parseTokensFile(FILE, 'tokens.txt');
    expect(set.entries.map((e) => [e.name, e.role, e.digest.toString('hex')])).toEqual([
      ['ci-bot', 'admin', sha256Hex(ADMIN)],
      ['grafana', 'viewer', sha256Hex(VIEWER)],
    ]);
    expect(set.source).toBe('tokens.txt');
  });

  it.each([
    ['ci-bot:admin', /line 2: expected name:role:sha256hex .*found 2 fields/],
    [`ci-bot:root:${sha256Hex('x')}`, /line 2: role of token "ci-bot" must be admin, viewer or owner/],
    ['ci-bot:admin:not-a-digest', /line 2: the third field .* must be the SHA-256/],
    [`bad name:admin:${sha256Hex('x')}`, /line 2: token name must be/],
    [`a:admin:${sha256Hex('x')}\n# dup below\na:viewer:${sha256Hex('y')}`, /line 4: token name "a" appears twice/],
  ])('refuses a malformed line with its number: %s', (line, message) => {
    const text = `# header\n${line}`;
    expect(() => parseTokensFile(text, 'tokens.txt')).toThrow(UsageError);
    expect(() => parseTokensFile(text, 'tokens.txt')).toThrow(message);
  });

  it('never echoes a raw token pasted into the file', () => {
    const raw = 'supersecret-raw-token-value-123456';
    try {
      parseTokensFile(`ci-bot:admin:${raw}`, 'tokens.txt');
      expect.unreachable();
    } catch (e) {
      expect(String((e as Error).message)).not.toContain(raw);
      expect((e as UsageError).details.join('\n')).not.toContain(raw);
    }
  });
});

describe('loadTokens', () => {
  it('prefers CUSTCTL_API_TOKENS_FILE', async () => {
    const set = await loadTokens({ CUSTCTL_API_TOKENS_FILE: '/etc/custctl/tokens', CUSTCTL_API_TOKEN: ADMIN }, async () => FILE, async () => 0o600);
    expect(set.entries.map((e) => e.name)).toEqual(['ci-bot', 'grafana']);
  });

  it('takes CUSTCTL_API_TOKEN as the single admin token "default"', async () => {
    const set = await loadTokens({ CUSTCTL_API_TOKEN: ADMIN });
    expect(set.entries).toHaveLength(1);
    expect(set.entries[0]).toMatchObject({ name: 'default', role: 'admin' });
    expect(JSON.stringify(set)).not.toContain(ADMIN);
  });

  it('refuses to start with no token, an empty file, an unreadable file, or a short token', async () => {
    await expect(loadTokens({})).rejects.toThrow(/no API token configured: refusing to serve/);
    await expect(loadTokens({ CUSTCTL_API_TOKENS_FILE: 'f' }, async () => '# nothing\n', async () => 0o600)).rejects.toThrow(/holds no token/);
    await expect(loadTokens({ CUSTCTL_API_TOKENS_FILE: '/nope' }, async () => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); })).rejects.toThrow(/cannot read CUSTCTL_API_TOKENS_FILE \/nope: ENOENT/);
    await expect(loadTokens({ CUSTCTL_API_TOKEN: 'short' })).rejects.toThrow(/shorter than 16/);
  });
});

describe('authenticate / authorize', () => {
  const set = parseTokensFile(FILE, 'tokens.txt');

  it('finds the token by digest', () => {
    expect(authenticate(set, ADMIN)).toEqual({ name: 'ci-bot', role: 'admin' });
    expect(authenticate(set, VIEWER)).toEqual({ name: 'grafana', role: 'viewer' });
    expect(authenticate(set, 'wrong')).toBeNull();
    expect(authenticate(set, `${ADMIN} `)).toBeNull();
  });

  it('compares 32-byte digests with crypto.timingSafeEqual, against every entry', () => {
    const calls: Array<[number, number]> = [];
    const equal = (a: Buffer, b: Buffer) => {
      calls.push([a.length, b.length]);
      return crypto.timingSafeEqual(a, b);
    };
    expect(authenticate(set, ADMIN, equal)).toEqual({ name: 'ci-bot', role: 'admin' });
    expect(calls).toEqual([[32, 32], [32, 32]]); // no early exit on the first match
    expect(authenticate.toString()).toContain('timingSafeEqual');
  });

  it('parses Bearer headers', () => {
    expect(bearerToken(`Bearer ${ADMIN}`)).toBe(ADMIN);
    expect(bearerToken(`bearer   ${ADMIN}`)).toBe(ADMIN);
    expect(bearerToken(`Basic ${ADMIN}`)).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it.each([
    [undefined, 'viewer', UnauthorizedError],
    ['Bearer nope', 'viewer', UnauthorizedError],
    [`Bearer ${VIEWER}`, 'admin', ForbiddenError],
  ] as const)('%s needing %s → %s', (header, need, cls) => {
    expect(() => authorize(set, header, need)).toThrow(cls);
    try {
      authorize(set, header, need);
    } catch (e) {
      expect((e as Error).message).not.toContain(ADMIN);
      expect((e as Error).message).not.toContain(VIEWER);
    }
  });

  it('lets admin do everything and viewer read', () => {
    expect(authorize(set, `Bearer ${ADMIN}`, 'admin')).toEqual({ name: 'ci-bot', role: 'admin' });
    expect(authorize(set, `Bearer ${ADMIN}`, 'viewer')).toEqual({ name: 'ci-bot', role: 'admin' });
    expect(authorize(set, `Bearer ${VIEWER}`, 'viewer')).toEqual({ name: 'grafana', role: 'viewer' });
  });
});

describe('owner tokens (soft delete)', () => {
  const OWNER = 'owner-token-0123456789abcdef';
  const set = parseTokensFile(`${FILE}\nportal-abc:owner:cust_abc123:${sha256Hex(OWNER)}\n`, 'tokens.txt');

  it('reads name:owner:<customerId>:sha256hex and names the customer', () => {
    expect(authenticate(set, OWNER)).toEqual({ name: 'portal-abc', role: 'owner', customerId: 'cust_abc123' });
  });

  it.each([
    [`portal:owner:${sha256Hex(OWNER)}`, /an owner token names its customer/],
    [`portal:owner:abc123:${sha256Hex(OWNER)}`, /must be a customer ID/],
    [`portal:owner:cust_ABC:${sha256Hex(OWNER)}`, /must be a customer ID/],
    [`portal:admin:cust_abc:${sha256Hex(OWNER)}`, /expected name:role:sha256hex/],
  ])('refuses %s', (line, message) => {
    expect(() => parseTokensFile(line, 'tokens.txt')).toThrow(message);
  });

  it('an owner reaches only the routes that allow owners; every other one is 404, not 403', () => {
    expect(() => authorize(set, `Bearer ${OWNER}`, 'viewer')).toThrow(NotFoundError);
    expect(() => authorize(set, `Bearer ${OWNER}`, 'admin')).toThrow(NotFoundError);
    expect(authorize(set, `Bearer ${OWNER}`, 'admin', true)).toEqual({ name: 'portal-abc', role: 'owner', customerId: 'cust_abc123' });
    // a viewer stays a viewer on an owner-allowed admin route
    expect(() => authorize(set, `Bearer ${VIEWER}`, 'admin', true)).toThrow(ForbiddenError);
  });
});
