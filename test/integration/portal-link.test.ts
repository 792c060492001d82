/**
 * `custctl portal link` with the built binary and a real PostgreSQL: the link it prints is
 * accepted by the same rule the server will apply (verify, then a single exchange), for the
 * customer and page asked; refused without a secret, with a secret file others can read, for an
 * unknown customer, a lifetime out of bounds, or an http:// portal on a network host.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryUsedLinks, parsePortalSecrets, redeemPortalToken, verifyPortalToken } from '../../src/domain/portal-link.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { provisionCustomer, randomKey } from '../support/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'custctl-portal-'));
const secretFile = path.join(dir, 'portal-secret');
const SECRET = 'Vq3c8m1ZpR7yT2kL9xW4nB6dF0hJ5sGa';
const env = { CUSTCTL_STATE_DIR: tempStateDir(), CUSTCTL_PORTAL_SECRET_FILE: secretFile, CUSTCTL_PORTAL_URL: 'https://portal.example.com' };
let customerId: string;

beforeAll(async () => {
  writeFileSync(secretFile, `# current\n${SECRET}\n`, { mode: 0o600 });
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  customerId = (await provisionCustomer(randomKey('pl'), { release: false, namespace: false })).customerId;
});

interface LinkJson { url: string; customerId: string; page: string; expiresAt: string; ttlSeconds: number; singleUse: boolean; customerChecked: boolean | null }

describe('custctl portal link', () => {
  it('prints a link the server accepts once, for that customer and page, valid as long as asked', async () => {
    const human = await custctl(['portal', 'link', customerId, '--ttl', '2h', '--page', 'cancel'], { env });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^https:\/\/portal\.example\.com\/portal\/sign-in\?token=v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(human.stderr).toMatch(/usable once: whoever holds it acts as/);
    const token = new URL(human.stdout.trim()).searchParams.get('token') as string;
    const secrets = parsePortalSecrets(SECRET, 'test');
    const now = Date.now();
    const check = verifyPortalToken(token, secrets, now);
    expect(check).toMatchObject({ ok: true, claims: { customerId, page: 'cancel' } });
    if (!check.ok) return;
    expect(Math.abs(check.claims.expiresAt - now - 2 * 3_600_000)).toBeLessThan(60_000);
    const used = new MemoryUsedLinks();
    expect((await redeemPortalToken(token, secrets, now, used)).ok).toBe(true);
    expect(await redeemPortalToken(token, secrets, now, used)).toMatchObject({ ok: false, reason: 'used' });
    expect(verifyPortalToken(token, secrets, check.claims.expiresAt)).toMatchObject({ ok: false, reason: 'expired' });

    const j = await custctlJson<LinkJson>(['portal', 'link', customerId, '--base-url', 'http://127.0.0.1:3100/'], { env });
    expect(j.result.exitCode).toBe(0);
    expect(j.json).toMatchObject({ customerId, page: 'overview', ttlSeconds: 3600, singleUse: true, customerChecked: true });
    expect(j.json.url.startsWith('http://127.0.0.1:3100/portal/sign-in?token=v1.')).toBe(true);
  });

  it.each<[string, string[], NodeJS.ProcessEnv, number, RegExp]>([
    ['no secret', [], { CUSTCTL_PORTAL_SECRET_FILE: '' }, 2, /no portal secret/],
    ['two secrets', [], { CUSTCTL_PORTAL_SECRET: SECRET }, 2, /both set/],
    ['a short secret', [], { CUSTCTL_PORTAL_SECRET_FILE: '', CUSTCTL_PORTAL_SECRET: 'short' }, 2, /shorter than 32/],
    ['an unknown customer', ['--', 'cust_nosuchportal1'], {}, 3, /not found: no link made/],
    ['a lifetime under 5 minutes', ['--ttl', '1m'], {}, 2, /between 5 minutes and 7 days/],
    ['a lifetime over 7 days', ['--ttl', '8d'], {}, 2, /between 5 minutes and 7 days/],
    ['an http portal on a network host', ['--base-url', 'http://portal.example.com'], {}, 2, /must be https/],
    ['no portal address', [], { CUSTCTL_PORTAL_URL: '' }, 2, /where is the portal/],
  ])('refuses %s', async (_what, args, extra, code, msg) => {
    const id = args[0] === '--' ? (args[1] as string) : customerId;
    const rest = args[0] === '--' ? [] : args;
    const r = await custctl(['portal', 'link', id, ...rest], { env: { ...env, ...extra } });
    expect(r.exitCode, r.stderr).toBe(code);
    expect(r.stderr).toMatch(msg);
    expect(r.stdout).toBe('');
  });

  it('refuses a secret file others can read', async () => {
    const loose = path.join(dir, 'loose-secret');
    writeFileSync(loose, `${SECRET}\n`);
    chmodSync(loose, 0o640);
    const r = await custctl(['portal', 'link', customerId], { env: { ...env, CUSTCTL_PORTAL_SECRET_FILE: loose } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/readable or writable by others \(mode 0640\)/);
    expect(r.stdout).toBe('');
  });
});
