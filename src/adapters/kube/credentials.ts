/**
 * The TLS options and credentials of each request to the API server. custctl sends the requests
 * of a plain kubeconfig user itself (certificates, tokens, a tokenFile read per request, basic
 * auth, an exec plugin's credential fetched once per expiry: exec-credentials.ts); a user whose
 * credentials need more (auth providers, impersonation) or a cluster behind a proxy-url gets
 * client-node's KubeConfig, loaded only then (~0.7 s of import), for the options of each request.
 */
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import { dump as dumpYaml } from 'js-yaml';
import { UsageError, errorMessage } from '../../errors.js';
import { execConfigOf, makeExecCredentialSource, type ExecCredential, type ExecCredentialSource } from './exec-credentials.js';
import type { LoadedKubeconfig, Obj } from './kubeconfig.js';

/** What custctl reads itself; anything else in the cluster or user entry is left to client-node. */
const PLAIN_CLUSTER_KEYS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'extensions']);
const PLAIN_USER_KEYS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'username', 'password', 'exec', 'extensions']);

/** Whether custctl sends this user's requests itself (certificates, tokens, basic auth) or needs client-node. */
export function plainCredentials(cluster: Obj, user: Obj): boolean {
  return Object.keys(cluster).every((k) => PLAIN_CLUSTER_KEYS.has(k)) && Object.keys(user).every((k) => PLAIN_USER_KEYS.has(k));
}

/** The options of one request; `exec`: the plugin credential it carries (a 401 refreshes it). */
export type RequestOptionsFn = (signal?: AbortSignal) => Promise<{ options: https.RequestOptions; exec?: ExecCredential }>;

function fileOrData(file: unknown, data: unknown): Buffer | undefined {
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  if (typeof file === 'string' && file !== '') return readFileSync(file);
  return undefined;
}

/** The options of every request for a plain user: read once (a tokenFile on every request: it may rotate; an exec credential per its expiry). */
export function plainOptions(k: LoadedKubeconfig, exec: ExecCredentialSource | null): RequestOptionsFn {
  const c = k.cluster;
  const u = k.user;
  const fixed: https.RequestOptions = {};
  const unusable = (what: string, e: unknown) => new UsageError(`kubeconfig ${k.target.kubeconfig}: cannot read the ${what} of context "${k.target.context}": ${errorMessage(e)}`, ['fix the path in the kubeconfig']);
  try {
    const ca = fileOrData(c['certificate-authority'], c['certificate-authority-data']);
    if (ca) fixed.ca = ca;
  } catch (e) { throw unusable('certificate-authority', e); }
  try {
    const cert = fileOrData(u['client-certificate'], u['client-certificate-data']);
    const key = fileOrData(u['client-key'], u['client-key-data']);
    if (cert) fixed.cert = cert;
    if (key) fixed.key = key;
  } catch (e) { throw unusable('client certificate or key', e); }
  if (c['insecure-skip-tls-verify'] === true) fixed.rejectUnauthorized = false;
  if (typeof c['tls-server-name'] === 'string' && c['tls-server-name'] !== '') fixed.servername = c['tls-server-name'];
  if (typeof u.username === 'string' && u.username !== '') fixed.auth = `${u.username}:${typeof u.password === 'string' ? u.password : ''}`;
  const token = typeof u.token === 'string' && u.token !== '' ? u.token : undefined;
  const tokenFile = typeof u.tokenFile === 'string' && u.tokenFile !== '' ? u.tokenFile : undefined;
  return async (signal) => {
    let bearer = token;
    if (!bearer && tokenFile) {
      try {
        bearer = readFileSync(tokenFile, 'utf8').trim();
      } catch (e) { throw unusable('tokenFile', e); }
    }
    if (!bearer && exec) {
      const cred = await exec.get(signal);
      const options: https.RequestOptions = { ...fixed, headers: cred.token ? { Authorization: `Bearer ${cred.token}` } : {} };
      if (cred.clientCertificateData && cred.clientKeyData) {
        options.cert = cred.clientCertificateData;
        options.key = cred.clientKeyData;
      }
      return { options, exec: cred };
    }
    return { options: { ...fixed, headers: bearer ? { Authorization: `Bearer ${bearer}` } : {} } };
  };
}

/** The exec plugin source of a plain user whose credentials come from one (a static token wins, as in client-go). */
export function execSource(k: LoadedKubeconfig, env: Record<string, string | undefined>): ExecCredentialSource | null {
  const u = k.user;
  const exec = execConfigOf(u);
  if (!exec || (typeof u.token === 'string' && u.token !== '') || (typeof u.tokenFile === 'string' && u.tokenFile !== '')) return null;
  return makeExecCredentialSource({ exec, kubeconfigFile: k.userFile, cluster: k.cluster, env });
}

/** The options of every request from client-node's KubeConfig (exec plugins, auth providers, proxies). */
export function clientNodeOptions(k: LoadedKubeconfig): RequestOptionsFn {
  let kc: Promise<{ applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }> | undefined;
  const load = async () => {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const c = new KubeConfig();
    try {
      c.loadFromString(dumpYaml(k.selected));
    } catch (e) {
      throw new UsageError(`cannot read kubeconfig ${k.target.kubeconfig}: ${errorMessage(e)}`, ['fix the file, or point KUBECONFIG / --kubeconfig at another one']);
    }
    return c as unknown as { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> };
  };
  return async () => {
    const c = await (kc ??= load());
    const o: https.RequestOptions = { headers: {} };
    await c.applyToHTTPSOptions(o);
    return { options: o };
  };
}
