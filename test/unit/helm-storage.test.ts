import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeReleaseSecret, latestRevisions, namespaceRecords, usesSecretDriver, type ReleaseSecret } from '../../src/adapters/helm-storage.js';

/** A release Secret as helm's Secret driver writes it and the API server returns it. */
function secret(name: string, version: number, status: string, manifest: string, o: { gzip?: boolean; type?: string } = {}): ReleaseSecret {
  const json = Buffer.from(JSON.stringify({ name, namespace: 'customer-a', version, info: { status }, chart: { metadata: { name: 'customer-instance', version: '0.1.0' } }, manifest }));
  const helmValue = (o.gzip ?? true ? gzipSync(json) : json).toString('base64');
  return {
    metadata: { name: `sh.helm.release.v1.${name}.v${version}`, labels: { owner: 'helm', name, version: String(version), status } },
    type: o.type ?? 'helm.sh/release.v1',
    data: { release: Buffer.from(helmValue).toString('base64') },
  };
}

describe('helm release Secrets', () => {
  it('decodes a record (gzip, and plain as older helms wrote)', () => {
    for (const gzip of [true, false]) {
      const r = decodeReleaseSecret(secret('customer-a', 3, 'deployed', 'kind: ConfigMap\n', { gzip }), 'customer-a');
      expect(r).toEqual({ name: 'customer-a', namespace: 'customer-a', status: 'deployed', chart: 'customer-instance-0.1.0', revision: '3', version: 3, manifest: 'kind: ConfigMap\n', hooks: [] });
    }
  });

  it('keeps the latest revision of each release whatever its state, by number not by text', () => {
    const latest = latestRevisions([
      secret('b', 9, 'superseded', 'old'), secret('b', 10, 'failed', 'new'),
      secret('a', 1, 'pending-install', 'x'),
    ], 'customer-a');
    expect(latest.map((r) => [r.name, r.revision, r.status, r.manifest])).toEqual([['a', '1', 'pending-install', 'x'], ['b', '10', 'failed', 'new']]);
  });

  it('passes over what is not a release record, as helm does', () => {
    const broken: ReleaseSecret = { metadata: { name: 'sh.helm.release.v1.c.v1', labels: { owner: 'helm' } }, type: 'helm.sh/release.v1', data: { release: 'bm90IGpzb24=' } };
    const latest = latestRevisions([secret('a', 1, 'deployed', 'x'), secret('z', 1, 'deployed', 'x', { type: 'Opaque' }), broken, { metadata: { name: 'nodata' } }], 'customer-a');
    expect(latest.map((r) => r.name)).toEqual(['a']);
    expect(() => decodeReleaseSecret(broken, 'customer-a')).toThrow(/cannot be decoded/);
  });

  it('reads the hooks with the record, and ConfigMap records (their data is not base64 once more)', () => {
    const json = Buffer.from(JSON.stringify({ name: 'r', version: 1, info: { status: 'deployed' }, manifest: 'm', hooks: [{ name: 'drain', kind: 'Job', events: ['pre-delete', 'pre-upgrade'] }, { name: 't', kind: 'Pod', events: ['test'] }] }));
    const cm: ReleaseSecret = { metadata: { name: 'r.v1', labels: { owner: 'helm' } }, data: { release: gzipSync(json).toString('base64') } };
    const [r] = latestRevisions([cm], 'customer-a', 'configmaps');
    expect(r?.hooks).toEqual([{ kind: 'Job', name: 'drain', events: ['pre-delete', 'pre-upgrade'] }, { kind: 'Pod', name: 't', events: ['test'] }]);
    expect(namespaceRecords({ HELM_DRIVER: 'configmap' })).toBe('configmaps');
    expect(namespaceRecords({ HELM_DRIVER: 'ConfigMaps' })).toBe('configmaps');
    expect(namespaceRecords({})).toBe('secrets');
    expect(namespaceRecords({ HELM_DRIVER: 'sql' })).toBeNull();
  });

  it('reads the Secrets only for helm\'s Secret driver', () => {
    expect(usesSecretDriver({})).toBe(true);
    expect(usesSecretDriver({ HELM_DRIVER: '' })).toBe(true);
    expect(usesSecretDriver({ HELM_DRIVER: 'secret' })).toBe(true);
    expect(usesSecretDriver({ HELM_DRIVER: 'Secrets' })).toBe(true);
    for (const d of ['configmap', 'configmaps', 'sql', 'memory']) expect(usesSecretDriver({ HELM_DRIVER: d })).toBe(false);
  });
});
