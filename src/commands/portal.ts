/**
 * `custctl portal link <customerId>`: a short-lived, single-use sign-in link to the customer
 * portal for one customer (src/domain/portal-link.ts), made with the server's portal secret
 * (CUSTCTL_PORTAL_SECRET_FILE or CUSTCTL_PORTAL_SECRET) and pointing at CUSTCTL_PORTAL_URL (or
 * --base-url). With a customers database configured, the customer must exist.
 */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { parseCustomerId } from '../domain/customer-id.js';
import {
  checkLinkTtl, DEFAULT_LINK_TTL_MS, mintPortalToken, parsePortalBaseUrl, PORTAL_PAGES, PortalConfigError, portalLinkUrl, type PortalPage,
} from '../domain/portal-link.js';
import { NotFoundError, UsageError } from '../errors.js';
import { durationFlag } from '../flags.js';
import { outputOption, print, view, type OutputFormat } from '../output/print.js';

export interface PortalLinkResult {
  url: string;
  customerId: string;
  page: PortalPage;
  expiresAt: string;
  ttlSeconds: number;
  singleUse: true;
  /** the customer's row was found (null: no database configured, not checked) */
  customerChecked: boolean | null;
}

const domain = <T>(fn: () => T): T => {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PortalConfigError) throw new UsageError(e.message);
    throw e;
  }
};

export async function runPortalLink(d: Deps, o: { customerId: string; ttlMs: number; baseUrl?: string; page: PortalPage; output: OutputFormat }): Promise<PortalLinkResult> {
  const customer = parseCustomerId(o.customerId);
  domain(() => checkLinkTtl(o.ttlMs));
  const c = d.config();
  const base = o.baseUrl !== undefined ? domain(() => parsePortalBaseUrl(o.baseUrl as string)) : c.portalUrl;
  if (!base) throw new UsageError('where is the portal? pass --base-url https://… or set CUSTCTL_PORTAL_URL');
  const { loadPortalSecrets } = await import('../adapters/secret-files.js');
  const secrets = await loadPortalSecrets(d.env);
  if (!secrets) {
    throw new UsageError('no portal secret: set CUSTCTL_PORTAL_SECRET_FILE (a file, mode 0600, one secret a line) or CUSTCTL_PORTAL_SECRET to the secret `custctl serve` uses', [
      'Make one with: (umask 077; openssl rand -base64 48 > /etc/custctl/portal-secret)',
    ]);
  }
  let checked: boolean | null = null;
  if (!c.apiUrl) {
    const { chooseStore } = await import('../adapters/open-store.js');
    let configured = true;
    try {
      chooseStore({ store: c.store, databaseUrl: c.databaseUrl, env: d.env, simulate: false });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      configured = false;
    }
    if (configured) {
      const row = await (await d.store()).get(customer.id);
      if (!row) throw new NotFoundError(`customer ${customer.id} not found: no link made`, ["List customers with 'custctl customers list'."]);
      checked = true;
    }
  }
  const now = d.now().getTime();
  const { token, claims } = domain(() => mintPortalToken({ customerId: customer.id, page: o.page, ttlMs: o.ttlMs, now, secrets }));
  const result: PortalLinkResult = {
    url: portalLinkUrl(base, token),
    customerId: customer.id,
    page: claims.page,
    expiresAt: new Date(claims.expiresAt).toISOString(),
    ttlSeconds: Math.round((claims.expiresAt - claims.issuedAt) / 1000),
    singleUse: true,
    customerChecked: checked,
  };
  if (checked === null) d.log.warn('No customers database configured: the customer was not looked up');
  d.log.info(`Link for ${customer.id} valid until ${result.expiresAt}, usable once: whoever holds it acts as ${customer.id} in the portal; send it to the customer only`);
  await print(d.io, o.output, view(result, (io) => void io.out.write(`${result.url}\n`)));
  return result;
}

export function makePortalCommand(d: Deps) {
  const cmd = new Command('portal')
    .description('The customer portal: sign-in links for customers')
    .addHelpText('after', '\nExamples:\n  custctl portal link cust_abc123 --ttl 1h\n  custctl portal link cust_abc123 --ttl 2d --page cancel --base-url https://portal.example.com');
  cmd
    .command('link')
    .description('Make a short-lived, single-use sign-in link to the portal for one customer')
    .argument('<customerId>', 'the customer (cust_…)')
    .addOption(new Option('--ttl <duration>', 'how long the link is valid: 5m to 7d').argParser(durationFlag('--ttl')).default(DEFAULT_LINK_TTL_MS, '1h'))
    .option('--base-url <url>', 'the portal\'s address (default CUSTCTL_PORTAL_URL)')
    .addOption(new Option('--page <page>', 'the page the link opens').choices(PORTAL_PAGES).default('overview' as PortalPage))
    .addOption(outputOption())
    .action(async (id, f) => {
      await runPortalLink(d, { customerId: id, ttlMs: f.ttl, ...(f.baseUrl !== undefined ? { baseUrl: f.baseUrl } : {}), page: f.page, output: f.output });
    });
  return cmd;
}
