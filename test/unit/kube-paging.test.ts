import { describe, expect, it } from 'vitest';
import { ListStreamParser } from '../../src/adapters/kube/list-stream.js';
import { countFromFirstPage, forEachPage } from '../../src/adapters/kube/paging.js';

describe('a list read as it arrives', () => {
  const list = {
    kind: 'ClusterRoleList', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: { resourceVersion: '42' },
    items: Array.from({ length: 300 }, (_, i) => ({ metadata: { name: `r-${i} "quoted" \\ } ] { [ ,`, annotations: { 'a\\"b': 'x,y' } }, rules: [{ verbs: ['get', '}"'] }], n: [1, [2, { x: '[' }]] })),
  };
  const text = JSON.stringify(list);

  it.each([1, 2, 3, 7, 64, 1000, text.length])('in chunks of %i characters: every item, in order, and the metadata', (size) => {
    const got: unknown[] = [];
    const p = new ListStreamParser((x) => got.push(x));
    for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
    expect(got).toEqual(list.items);
    expect(p.fields.metadata).toEqual({ resourceVersion: '42' });
    expect(p.items).toBe(300);
  });

  it('an empty list, and items before the metadata', () => {
    const got: unknown[] = [];
    const p = new ListStreamParser((x) => got.push(x));
    p.push('{"items":[],"metadata":{"resourceVersion":"7"},"kind":"List"}');
    expect(got).toEqual([]);
    expect(p.fields.metadata).toEqual({ resourceVersion: '7' });
  });
});

describe('paged lists', () => {
  it('hands each page over, restarts once on an expired continue token', async () => {
    const pages = [{ items: [1, 2], metadata: { continue: 'a', resourceVersion: '9' } }, { items: [3] }];
    let expireOnce = true;
    const got: number[] = [];
    const r = await forEachPage<number>(async (cont) => {
      if (cont === 'a' && expireOnce) { expireOnce = false; throw new Error('410'); }
      return cont === 'a' ? pages[1]! : pages[0]!;
    }, (items) => got.push(...items), { isExpired: (e) => (e as Error).message === '410', onRestart: () => { got.length = 0; } });
    expect(got).toEqual([1, 2, 3]);
    expect(r).toEqual({ resourceVersion: '9', items: 3 });
  });

  it('counts a list from its first page', () => {
    expect(countFromFirstPage({ items: [{}], metadata: { continue: 'x', remainingItemCount: 9999 } })).toBe(10_000);
    expect(countFromFirstPage({ items: [{}, {}] })).toBe(2);
    expect(countFromFirstPage({ items: [{}], metadata: { continue: 'x' } })).toBeNull();
  });
});
