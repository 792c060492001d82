import { describe, expect, it } from 'vitest';
import { parseManifest, splitManifest } from '../../src/adapters/helm-manifest.js';

const cm = (name: string, extra = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;

describe('release manifests read as helm reads them', () => {
  it('a key written twice: the last value wins (helm installs it, and sends the last value)', async () => {
    const m = [
      '---', '# Source: dup/templates/cm.yaml',
      'apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: first', '  labels:', '    app: a', '    app: b', '  name: dup', 'data:', '  k: one', '  k: two',
    ].join('\n');
    expect(await parseManifest(m)).toEqual({ objects: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'dup' }], unreadable: [] });
  });

  it('a namespace written twice is checked by its last value, in both directions', async () => {
    const inside = cm('a', '  namespace: elsewhere\n  namespace: customer-x\n');
    expect((await parseManifest(inside)).objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: 'customer-x' }]);
    const outside = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: customer-x\n  name: b\n  namespace: monitoring\n';
    expect((await parseManifest(outside)).objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'b', namespace: 'monitoring' }]);
    // a kind written twice: the last one is what helm created
    expect((await parseManifest('apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: s\n')).objects).toEqual([{ apiVersion: 'v1', kind: 'Secret', name: 's' }]);
  });

  it('splits where helm splits: --- with trailing spaces or a comment, empty and comment-only documents, CRLF', async () => {
    const m = `${cm('one')}---   \n${cm('two')}\n--- # the third\n${cm('three')}\n---\n\n---\n# Source: c/templates/empty.yaml\n# nothing rendered\n---\r\n${cm('four').replace(/\n/g, '\r\n')}`;
    expect(splitManifest(m)).toHaveLength(5);
    const r = await parseManifest(m);
    expect(r.objects.map((o) => o.name)).toEqual(['one', 'two', 'three', 'four']);
    expect(r.unreadable).toEqual([]);
  });

  it('--- inside a block scalar is content, not a separator (it is indented)', async () => {
    const m = `${cm('script', 'data:\n  run.sh: |\n    echo a\n    ---\n    echo b\n')}`;
    const r = await parseManifest(m);
    expect(r).toEqual({ objects: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'script' }], unreadable: [] });
  });

  it('opens kind: List, and reads JSON documents', async () => {
    const list = 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata: {name: r}\n';
    const json = '{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc","namespace":"customer-x"}}';
    expect((await parseManifest(`${list}---\n${json}\n`)).objects).toEqual([
      { apiVersion: 'v1', kind: 'Secret', name: 's' },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'r' },
      { apiVersion: 'v1', kind: 'Service', name: 'svc', namespace: 'customer-x' },
    ]);
  });

  it('a tag js-yaml does not know is read by the YAML 1.1 fallback, as go-yaml would', async () => {
    const m = cm('tagged', 'data:\n  v: !custom value\n');
    expect(await parseManifest(m)).toEqual({ objects: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'tagged' }], unreadable: [] });
  });

  it('a document that cannot be interpreted is reported with its position and template, the rest still read', async () => {
    const m = `---\n# Source: c/templates/ok.yaml\n${cm('ok')}---\n# Source: c/templates/bad.yaml\napiVersion: v1\nkind: [unclosed\n---\n# Source: c/templates/nokind.yaml\nmetadata:\n  name: x\n---\n# Source: c/templates/scalar.yaml\njust a string\n---\nkind: Secret\nmetadata:\n  name: noversion\n`;
    const r = await parseManifest(m);
    expect(r.objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ok' }]);
    expect(r.unreadable).toEqual([
      { index: 2, source: 'c/templates/bad.yaml', reason: expect.stringMatching(/^not valid YAML: /) },
      { index: 3, source: 'c/templates/nokind.yaml', reason: 'no kind' },
      { index: 4, source: 'c/templates/scalar.yaml', reason: 'not a mapping (a string)' },
      { index: 5, reason: 'Secret without an apiVersion' },
    ]);
  });
});
