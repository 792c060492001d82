/** The API server itself, for `version` and `doctor`: its version, and what this user may do (SelfSubjectAccessReview). */
import { runPool } from '../../../util/pool.js';
import type { AccessAnswer, AccessCheck } from '../../kube.js';
import type { Client } from '../client.js';

/** Parallel reviews. */
const PARALLEL = 6;

export async function serverVersion(c: Client, signal?: AbortSignal): Promise<string> {
  const v = (await c.get('/version', {}, 'application/json', signal, { verb: 'get', what: 'the server version (/version)' })) as { gitVersion?: string };
  return v.gitVersion ?? 'unknown';
}

export async function accessReview(c: Client, checks: readonly AccessCheck[], signal?: AbortSignal): Promise<AccessAnswer[]> {
  interface Review { status?: { allowed?: boolean; reason?: string; evaluationError?: string } }
  return runPool([...checks], PARALLEL, async (k) => {
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: k.verb, group: k.group, resource: k.resource, ...(k.namespace ? { namespace: k.namespace } : {}), ...(k.name ? { name: k.name } : {}) } },
    };
    // a create that changes nothing (a review is answered, not stored): safe to send again
    const r = await c.call({ verb: 'create', what: 'selfsubjectaccessreviews.authorization.k8s.io' }, signal,
      (s) => c.send<Review>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {}, { body, signal: s }));
    const reason = r.status?.reason || r.status?.evaluationError;
    return { ...k, allowed: r.status?.allowed === true, ...(reason ? { reason } : {}) };
  });
}
