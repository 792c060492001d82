/**
 * doctor --print-rbac: the roles made from the one table of permissions, and deploy/rbac/ kept equal
 * to what it prints (regenerate with `npm run rbac`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { runPrintRbac } from '../../src/commands/doctor.js';
import type { Deps } from '../../src/deps.js';
import { FEATURES, ownGrantOf, parseFeatures, rbacManifests, requiredAccess, rulesFor } from '../../src/domain/permissions.js';
import { isOwnGrant, ownGrantSkip } from '../../src/domain/restore-rules.js';
import { serviceAccountOfToken } from '../../src/adapters/kube/index.js';
import type { KubeObject } from '../../src/domain/backup.js';
import { UsageError } from '../../src/errors.js';
import { bufferIO } from '../support/buffer-io.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The deploy/rbac/ files and the arguments that print them. */
const SHIPPED: Array<{ file: string; features: string[] }> = [
  { file: 'deploy/rbac/custctl.yaml', features: ['backup,snapshots,soft-delete'] },
  { file: 'deploy/rbac/custctl-with-restore.yaml', features: ['all'] },
];

async function printed(features: string[], env: Record<string, string> = {}, o: { serviceAccount?: string; name?: string } = {}): Promise<string> {
  const b = bufferIO();
  const d = { io: b.io, env, config: () => buildConfig(env, {}), shutdown: new AbortController().signal, kube: async () => { throw new Error('--static: no cluster'); } } as unknown as Deps;
  await runPrintRbac(d, { features, serviceAccount: o.serviceAccount ?? 'custctl/custctl', name: o.name ?? 'custctl', static: true });
  return b.out();
}

describe('doctor --print-rbac', () => {
  it.each(SHIPPED)('$file is what it prints (npm run rbac regenerates it)', async ({ file, features }) => {
    expect(readFileSync(path.join(ROOT, file), 'utf8')).toBe(await printed(features));
  });

  it('the configured features come from the environment: a backup URL, a snapshot class, a retention period', async () => {
    const out = await printed([], { CUSTCTL_BACKUP_URL: 'file:///var/backups', CUSTCTL_SNAPSHOT_CLASS: 'csi-retain', CUSTCTL_RETENTION: '7d' });
    expect(out).toContain('custctl.io/features: delete,cleanup-rbac,backup,snapshots,soft-delete');
    expect(await printed([])).toContain('custctl.io/features: delete,cleanup-rbac\n');
  });

  it('without restore: no create of RBAC or namespaces anywhere, and no bind', async () => {
    const docs = rbacManifests({ features: parseFeatures(['backup,snapshots,soft-delete']), serviceAccount: { namespace: 'custctl', name: 'custctl' } });
    const verbs = docs.flatMap((d) => ((d as { rules?: Array<{ verbs: string[]; resources: string[] }> }).rules ?? []).map((r) => ({ ...r, kind: d.metadata.name })));
    const cluster = verbs.filter((r) => r.kind === 'custctl');
    expect(cluster.flatMap((r) => r.verbs)).not.toContain('create');
    expect(verbs.flatMap((r) => r.verbs)).not.toContain('bind');
    expect(verbs.flatMap((r) => r.verbs)).not.toContain('escalate');
    // Secrets are never granted cluster-wide
    expect(cluster.flatMap((r) => r.resources)).not.toContain('secrets');
    expect(cluster.flatMap((r) => r.resources)).not.toContain('*');
  });

  it('restore binds only the namespace role, by name', () => {
    const rules = rulesFor(requiredAccess('ops'), 'cluster', parseFeatures(['restore']));
    expect(rules.filter((r) => r.verbs.includes('bind'))).toEqual([
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['ops-customer-namespace'] },
    ]);
  });

  it('names and the ServiceAccount are the caller\'s', async () => {
    const out = await printed([], {}, { serviceAccount: 'platform/custctl-prod', name: 'custctl-prod' });
    expect(out).toMatch(/kind: ClusterRoleBinding\nmetadata:\n  name: custctl-prod\n/);
    expect(out).toContain('name: custctl-prod-customer-namespace');
    expect(out).toMatch(/subjects:\n  - kind: ServiceAccount\n    name: custctl-prod\n    namespace: platform/);
    await expect(printed([], {}, { serviceAccount: 'custctl' })).rejects.toThrow(/NAMESPACE\/NAME/);
  });

  it('an unknown feature is a UsageError naming the known ones', () => {
    expect(() => parseFeatures(['backups'])).toThrow(UsageError);
    expect(() => parseFeatures(['backups'])).toThrow(FEATURES.join(', '));
  });
});

describe("custctl's own grant in a restored namespace", () => {
  const jwt = (claims: object) => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
  const binding = (subjects: object[], role = 'custctl-customer-namespace'): KubeObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'custctl', namespace: 'customer-a1' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects,
  });
  const me = { kind: 'ServiceAccount', name: 'custctl', namespace: 'custctl' };

  it('the ServiceAccount of a token is read from its claims (TokenRequest and legacy tokens both carry sub)', () => {
    expect(serviceAccountOfToken(jwt({ sub: 'system:serviceaccount:custctl:custctl', 'kubernetes.io': { namespace: 'custctl' } }))).toEqual({ namespace: 'custctl', name: 'custctl' });
    expect(serviceAccountOfToken(jwt({ sub: 'alice' }))).toBeUndefined();
    expect(serviceAccountOfToken('not-a-jwt')).toBeUndefined();
  });

  it('is re-created only when it grants exactly the ServiceAccount restoring; otherwise left out, with why', () => {
    const g = ownGrantOf('custctl', { serviceAccount: { namespace: 'custctl', name: 'custctl' } });
    expect(isOwnGrant(binding([me]), g)).toBe(true);
    expect(isOwnGrant(binding([me], 'admin'), g)).toBe(false);
    expect(ownGrantSkip(binding([me]), g)).toBeNull();
    expect(ownGrantSkip(binding([{ kind: 'ServiceAccount', name: 'x', namespace: 'evil' }]), g)).toMatch(/for ServiceAccount evil\/x, not for the identity restoring/);
    expect(ownGrantSkip(binding([me, { kind: 'Group', name: 'system:authenticated' }]), g)).not.toBeNull();
    // an admin's certificate names no ServiceAccount: the grant is the provisioning's to make
    expect(ownGrantSkip(binding([me]), ownGrantOf('custctl', {}))).toMatch(/the platform's provisioning makes it/);
  });
});

describe('doctor --print-rbac -o json', () => {
  it('is one List of the same objects', async () => {
    const b = bufferIO();
    const d = { io: b.io, env: {}, config: () => buildConfig({}, {}), shutdown: new AbortController().signal } as unknown as Deps;
    await runPrintRbac(d, { features: ['backup'], serviceAccount: 'custctl/custctl', name: 'custctl', static: true, output: 'json' });
    const list = JSON.parse(b.out()) as { kind: string; items: Array<{ kind: string; metadata: { name: string } }> };
    expect(list.kind).toBe('List');
    expect(list.items.map((i) => `${i.kind}/${i.metadata.name}`)).toEqual(['ServiceAccount/custctl', 'ClusterRole/custctl', 'ClusterRoleBinding/custctl', 'ClusterRole/custctl-customer-namespace']);
  });
});
