/**
 * The settings every group of routes reads (the API, the console, the customer portal): tokens,
 * log, retention, TLS and the proxy in front. Its own module so the route groups need not import
 * the server that registers them.
 */
import type { Logger } from '../io.js';
import type { TokenSet } from './auth.js';
import type { AuthFailureLimits } from './auth-failures.js';

export interface RouteSettings {
  tokens: TokenSet;
  log: Logger;
  /** soft delete: the site's default retention and the minimum an owner token gets, ms (default 0 and 7 days) */
  retention?: { defaultMs: number; ownerMinMs: number };
  /** TLS (PEM): serve HTTPS */
  https?: { cert: Buffer; key: Buffer } | undefined;
  /**
   * The origin browsers use to reach this server when a proxy stands in front (e.g.
   * `https://custctl.example.com`): the console's sign-in checks it, and an https one makes the
   * session cookie Secure and `__Host-` named.
   */
  publicUrl?: string;
  /**
   * Addresses (IPs, CIDRs, or `loopback`) of proxies whose X-Forwarded-For/-Proto/-Host are
   * believed; from any other peer those headers are ignored.
   */
  trustProxy?: readonly string[];
  /** failed authentications per client address (defaults: AUTH_FAILURE_LIMITS) */
  authFailures?: Partial<AuthFailureLimits>;
  /** the site's own strings an owner must not read (cluster server and context, backup URL, host): taken out of its answers */
  ownerSecrets?: () => readonly string[];
}
