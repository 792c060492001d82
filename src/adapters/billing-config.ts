/**
 * The billing configuration, read and checked once at start (exit 2 with what is wrong):
 *
 * - `CUSTCTL_BILLING`: `none` (default) or `stripe`;
 * - the key: `STRIPE_API_KEY`, or `CUSTCTL_STRIPE_API_KEY_FILE` (a file only its owner can read,
 *   mode 0600 or 0400); a secret (`sk_`) or, better, a restricted key (`rk_`) with the
 *   permissions docs/billing.md lists; never a publishable key;
 * - which customer: the row column `CUSTCTL_STRIPE_CUSTOMER_COLUMN` (default `stripe_customer_id`),
 *   else, when set, a customer search on the metadata key `CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY`
 *   holding the custctl customer ID;
 * - the policy (src/domain/billing.ts, defaults there): `CUSTCTL_STRIPE_FINAL_INVOICE`,
 *   `CUSTCTL_STRIPE_PRORATE`, `CUSTCTL_STRIPE_REFUND` (none | unused),
 *   `CUSTCTL_STRIPE_DELETE_CUSTOMER`, `CUSTCTL_STRIPE_SUSPEND_BEHAVIOR` (void | keep_as_draft |
 *   mark_uncollectible);
 * - `CUSTCTL_STRIPE_API_BASE`: another API address (a proxy; the tests' loopback server); plain
 *   http only to a loopback address.
 *
 * No message shows the key or the key file's content.
 */
import { readFile, stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { DEFAULT_BILLING_POLICY, PAUSE_BEHAVIORS, policyProblem, type BillingPolicy, type PauseBehavior, type RefundPolicy } from '../domain/billing.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface StripeSettings {
  /** never printed */
  apiKey: string;
  /** where the key came from (`STRIPE_API_KEY` or `CUSTCTL_STRIPE_API_KEY_FILE <path>`) */
  keySource: string;
  mode: 'test' | 'live';
  /** an `rk_` key: missing permissions are possible and reported as such */
  restricted: boolean;
  customerColumn: string;
  metadataKey: string | null;
  /** set: the API is reached there instead of api.stripe.com */
  apiBase: { protocol: 'http' | 'https'; host: string; port: number } | null;
}

export type BillingConfig =
  | { provider: 'none' }
  | { provider: 'stripe'; stripe: StripeSettings; policy: BillingPolicy };

const KEY = /^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,247}$/;
const COLUMN = /^[a-z_][a-z0-9_]{0,62}$/;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,40}$/;

export async function loadBillingConfig(env: Env): Promise<BillingConfig> {
  const provider = (env.CUSTCTL_BILLING ?? '').trim().toLowerCase();
  if (provider === '' || provider === 'none') {
    const stray = Object.keys(env).filter((k) => k.startsWith('CUSTCTL_STRIPE_') && env[k]);
    if (stray.length > 0) throw new UsageError(`${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} set but CUSTCTL_BILLING is not: set CUSTCTL_BILLING=stripe to use Stripe, or unset ${stray.length === 1 ? 'it' : 'them'}`);
    return { provider: 'none' };
  }
  if (provider !== 'stripe') throw new UsageError(`CUSTCTL_BILLING=${JSON.stringify(env.CUSTCTL_BILLING)}: expected stripe or none`);
  const { apiKey, keySource } = await readKey(env);
  const m = KEY.exec(apiKey) as RegExpExecArray;
  const customerColumn = env.CUSTCTL_STRIPE_CUSTOMER_COLUMN || 'stripe_customer_id';
  if (!COLUMN.test(customerColumn)) throw new UsageError(`CUSTCTL_STRIPE_CUSTOMER_COLUMN=${JSON.stringify(customerColumn)} is not a plain column name (lower case letters, digits, _)`);
  const metadataKey = env.CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY || null;
  if (metadataKey !== null && !METADATA_KEY.test(metadataKey)) throw new UsageError(`CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY=${JSON.stringify(metadataKey)}: a Stripe metadata key is 1-40 of letters, digits, _ . -`);
  const policy: BillingPolicy = {
    finalInvoice: bool(env, 'CUSTCTL_STRIPE_FINAL_INVOICE', DEFAULT_BILLING_POLICY.finalInvoice),
    prorate: bool(env, 'CUSTCTL_STRIPE_PRORATE', DEFAULT_BILLING_POLICY.prorate),
    refund: choice<RefundPolicy>(env, 'CUSTCTL_STRIPE_REFUND', ['none', 'unused'], DEFAULT_BILLING_POLICY.refund),
    deleteCustomer: bool(env, 'CUSTCTL_STRIPE_DELETE_CUSTOMER', DEFAULT_BILLING_POLICY.deleteCustomer),
    suspendBehavior: choice<PauseBehavior>(env, 'CUSTCTL_STRIPE_SUSPEND_BEHAVIOR', PAUSE_BEHAVIORS, DEFAULT_BILLING_POLICY.suspendBehavior),
  };
  const problem = policyProblem(policy);
  if (problem) throw new UsageError(`CUSTCTL_STRIPE_REFUND=unused with CUSTCTL_STRIPE_FINAL_INVOICE=${policy.finalInvoice} and CUSTCTL_STRIPE_PRORATE=${policy.prorate}: ${problem}`);
  return {
    provider: 'stripe',
    stripe: { apiKey, keySource, mode: m[2] as 'test' | 'live', restricted: m[1] === 'rk', customerColumn, metadataKey, apiBase: apiBase(env.CUSTCTL_STRIPE_API_BASE) },
    policy,
  };
}

/** The configuration as it may be shown (`custctl doctor`, logs): never the key. */
export function describeBilling(c: BillingConfig): string {
  if (c.provider === 'none') return 'none';
  const s = c.stripe;
  const p = c.policy;
  return [
    `stripe (${s.mode} mode, ${s.restricted ? 'restricted' : 'secret'} key from ${s.keySource})`,
    `customer from column ${s.customerColumn}${s.metadataKey ? ` or metadata ${s.metadataKey}` : ''}`,
    `final invoice ${p.finalInvoice ? 'yes' : 'no'}, proration ${p.prorate ? 'yes' : 'no'}, refund ${p.refund}, delete customer ${p.deleteCustomer ? 'yes' : 'no'}, soft delete pauses collection (${p.suspendBehavior})`,
    ...(s.apiBase ? [`API at ${s.apiBase.protocol}://${s.apiBase.host}:${s.apiBase.port}`] : []),
  ].join('; ');
}

async function readKey(env: Env): Promise<{ apiKey: string; keySource: string }> {
  const direct = env.STRIPE_API_KEY || undefined;
  const file = env.CUSTCTL_STRIPE_API_KEY_FILE || undefined;
  if (direct !== undefined && file !== undefined) throw new UsageError('STRIPE_API_KEY and CUSTCTL_STRIPE_API_KEY_FILE are both set: use one');
  if (direct === undefined && file === undefined) throw new UsageError('CUSTCTL_BILLING=stripe needs a key: set STRIPE_API_KEY, or CUSTCTL_STRIPE_API_KEY_FILE to a file only you can read (chmod 600); a restricted key (rk_…) with the permissions in docs/billing.md is best');
  if (direct !== undefined) return { apiKey: checkKey(direct, 'STRIPE_API_KEY'), keySource: 'STRIPE_API_KEY' };
  const where = `CUSTCTL_STRIPE_API_KEY_FILE ${file as string}`;
  let st;
  try {
    st = await stat(file as string);
  } catch (e) {
    throw new UsageError(`${where}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!st.isFile()) throw new UsageError(`${where}: not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new UsageError(`${where}: others can read it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): a Stripe key moves money; chmod 600 it`);
  }
  const text = (await readFile(file as string, 'utf8')).replace(/\r?\n$/, '');
  return { apiKey: checkKey(text, where), keySource: `CUSTCTL_STRIPE_API_KEY_FILE ${file as string}` };
}

function checkKey(key: string, where: string): string {
  if (/^pk_/.test(key)) throw new UsageError(`${where} holds a publishable key (pk_…): custctl needs a secret key (sk_…) or a restricted key (rk_…)`);
  if (/\s/.test(key)) throw new UsageError(`${where} holds white space or a line break: set it again without it`);
  if (!KEY.test(key)) throw new UsageError(`${where} does not look like a Stripe secret key (sk_test_…, sk_live_…) or restricted key (rk_test_…, rk_live_…)`);
  return key;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new UsageError(`${name}=${JSON.stringify(raw)}: expected true or false`);
}

function choice<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase() as T;
  if (!allowed.includes(v)) throw new UsageError(`${name}=${JSON.stringify(raw)}: expected one of ${allowed.join(', ')}`);
  return v;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function apiBase(raw: string | undefined): StripeSettings['apiBase'] {
  if (raw === undefined || raw === '') return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError('CUSTCTL_STRIPE_API_BASE is not a URL (expected e.g. https://stripe-proxy.internal:8443)');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UsageError(`CUSTCTL_STRIPE_API_BASE must be https:// (or http:// to a loopback address), not ${u.protocol}`);
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) throw new UsageError(`CUSTCTL_STRIPE_API_BASE=${u.origin}: plain http would send the Stripe key in clear; use https, or http only to a loopback address`);
  if (u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) throw new UsageError('CUSTCTL_STRIPE_API_BASE is an origin only (scheme, host, port): no path, query or user');
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  return { protocol, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : protocol === 'https' ? 443 : 80 };
}
