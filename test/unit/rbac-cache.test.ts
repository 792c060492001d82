import { describe, expect, it } from 'vitest';
import { makeRbacCache, type RbacSource, type RbacWatchEvent } from '../../src/adapters/kube/rbac-cache.js';
import { RbacIndex, slimRbac } from '../../src/domain/rbac-index.js';
import { classifyRbac, type RbacKind, type RbacObject } from '../../src/domain/rbac-owner.js';

const NS_ANN = 'meta.helm.sh/release-namespace';
const role = (name: string, annotations: Record<string, string> = {}): RbacObject => ({ kind: 'ClusterRole', name, annotations });
const binding = (name: string, roleName: string, annotations: Record<string, string> = {}): RbacObject => ({ kind: 'ClusterRoleBinding', name, annotations, roleRef: { kind: 'ClusterRole', name: roleName } });

describe('the cluster RBAC index', () => {
  const objects = [
    role('cabc-customer-instance-opencost'), binding('cabc-customer-instance-opencost', 'cabc-customer-instance-opencost'),
    role('reader', { [NS_ANN]: 'customer-abc', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(10_000) }),
    binding('someone-binds-reader', 'reader'), // no mark: kept unowned
    role('cabcd-customer-instance-opencost'), role('xcabc-customer-instance-opencost'), role('cluster-admin'),
    binding('other', 'cluster-admin', { [NS_ANN]: 'customer-zzz' }),
  ].map((o) => slimRbac(o.kind, o.name, o.annotations, o.roleRef));

  it('keeps only the annotations the ownership rules read', () => {
    expect(objects[2]?.annotations).toEqual({ [NS_ANN]: 'customer-abc' });
  });

  it('forCustomer gives classifyRbac what the whole cluster gives it', () => {
    const idx = RbacIndex.of(objects);
    for (const [key, ns] of [['abc', 'customer-abc'], ['abcd', 'customer-abcd'], ['zzz', 'customer-zzz'], ['nobody', 'customer-nobody']] as const) {
      expect(classifyRbac(idx.forCustomer(key, ns), key, ns)).toEqual(classifyRbac(objects, key, ns));
    }
    expect(idx.forCustomer('abc', 'customer-abc').map((o) => o.name).sort()).toEqual(['cabc-customer-instance-opencost', 'cabc-customer-instance-opencost', 'reader', 'someone-binds-reader']);
  });

  it('follows changes: put replaces, remove forgets, replaceKind relists one kind', () => {
    const idx = RbacIndex.of(objects);
    idx.put(role('reader')); // the annotation was removed
    expect(idx.forCustomer('abc', 'customer-abc').map((o) => o.name)).not.toContain('reader');
    idx.remove('ClusterRoleBinding', 'cabc-customer-instance-opencost');
    expect(classifyRbac(idx.forCustomer('abc', 'customer-abc'), 'abc', 'customer-abc').owned.map((o) => `${o.kind}/${o.name}`)).toEqual(['ClusterRole/cabc-customer-instance-opencost']);
    idx.replaceKind('ClusterRole', [role('only-one')]);
    expect(idx.all().filter((o) => o.kind === 'ClusterRole').map((o) => o.name)).toEqual(['only-one']);
    expect(idx.get('ClusterRoleBinding', 'other')).toBeDefined();
  });
});

/** A source whose lists count, and whose watches are driven by the test. */
function fakeSource(initial: RbacObject[]) {
  const lists: RbacKind[] = [];
  const watches: Array<{ kind: RbacKind; rv: string; emit: (e: RbacWatchEvent) => void; end: (r: { status?: number } | null) => void }> = [];
  let rv = 10;
  let data = [...initial];
  const src: RbacSource = {
    async list(kind) {
      lists.push(kind);
      return { objects: data.filter((o) => o.kind === kind), resourceVersion: String(rv) };
    },
    watch(kind, resourceVersion, signal, onEvent) {
      return new Promise((resolve) => {
        const w = { kind, rv: resourceVersion, emit: onEvent, end: (r: { status?: number } | null) => resolve(r) };
        watches.push(w);
        queueMicrotask(() => onEvent({ type: 'CONNECTED' }));
        signal.addEventListener('abort', () => resolve(null), { once: true });
      });
    },
  };
  return { src, lists, watches, set: (d: RbacObject[], v: number) => { data = d; rv = v; } };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('one cluster RBAC listing for the whole process', () => {
  it('a single reader lists once and watches nothing; readers at the same moment share the listing', async () => {
    const f = fakeSource([role('a')]);
    const c = makeRbacCache(f.src);
    const [x, y] = await Promise.all([c.index(), c.index()]);
    expect(x).toBe(y);
    expect(f.lists).toEqual(['ClusterRole', 'ClusterRoleBinding']);
    expect(f.watches).toEqual([]);
    c.close();
  });

  it('read again: followed by watches from the listing, no second listing; events update it', async () => {
    let t = 0;
    const f = fakeSource([role('cabc-customer-instance-x')]);
    const c = makeRbacCache(f.src, { now: () => t });
    await c.index();
    t = 5_000;
    const again = await c.index();
    await tick();
    expect(f.lists).toHaveLength(2); // the first listing only (two kinds)
    expect(f.watches.map((w) => `${w.kind}@${w.rv}`).sort()).toEqual(['ClusterRole@10', 'ClusterRoleBinding@10']);
    f.watches.find((w) => w.kind === 'ClusterRole')?.emit({ type: 'ADDED', object: role('cabc-customer-instance-y'), resourceVersion: '11' });
    expect((await c.index()).forCustomer('abc', 'customer-abc').map((o) => o.name).sort()).toEqual(['cabc-customer-instance-x', 'cabc-customer-instance-y']);
    expect(again).toBe(await c.index());
    // the server ends the watch: resumed from the last version it sent
    f.watches.find((w) => w.kind === 'ClusterRole')?.end(null);
    await tick();
    expect(f.watches.filter((w) => w.kind === 'ClusterRole').map((w) => w.rv)).toEqual(['10', '11']);
    // too old (410): listed again, then watched from the new listing
    f.set([role('z')], 50);
    f.watches.filter((w) => w.kind === 'ClusterRole').at(-1)?.end({ status: 410 });
    await tick(); await tick();
    expect(f.lists.filter((k) => k === 'ClusterRole')).toHaveLength(2);
    expect((await c.index()).all().filter((o) => o.kind === 'ClusterRole').map((o) => o.name)).toEqual(['z']);
    expect(c.listings).toBe(2);
    c.close();
  });

  it('what this process deleted is forgotten at once', async () => {
    const f = fakeSource([role('cabc-customer-instance-x')]);
    const c = makeRbacCache(f.src);
    await c.index();
    c.forget('ClusterRole', 'cabc-customer-instance-x');
    expect((await c.index()).all()).toEqual([]);
    c.close();
  });

  it('a listing older than a few seconds is listed again before it is followed', async () => {
    let t = 0;
    const f = fakeSource([role('a')]);
    const c = makeRbacCache(f.src, { now: () => t });
    await c.index();
    t = 60_000;
    await c.index();
    expect(f.lists).toHaveLength(4);
    expect(c.following).toBe(true);
    c.close();
  });

  it('a refused watch falls back to a listing per reader', async () => {
    const f = fakeSource([role('a')]);
    const problems: string[] = [];
    const c = makeRbacCache(f.src, { onWatchProblem: (k, why) => problems.push(`${k}: ${why}`) });
    c.follow();
    await c.index();
    await tick();
    for (const w of f.watches) w.end({ status: 403 });
    await tick();
    expect(c.following).toBe(false);
    expect(problems[0]).toMatch(/watch refused \(HTTP 403\)/);
    await c.index();
    expect(f.lists).toHaveLength(4);
    c.close();
  });
});
