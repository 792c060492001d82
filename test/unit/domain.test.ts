import { describe, expect, it } from 'vitest';
import { parseCustomerId } from '../../src/domain/customer-id.js';
import { checkRowNamespace, namespaceFor, parseNamespacePrefix } from '../../src/domain/namespace-name.js';
import { classifyRbac, ownershipRule, type RbacObject } from '../../src/domain/rbac-owner.js';
import { formatDuration, parseDuration } from '../../src/domain/duration.js';
import { exitCodeFor, InvalidIdError, InvalidNamespaceError, UsageError } from '../../src/errors.js';

const KEY44 = 'a'.repeat(44);

describe('parseCustomerId', () => {
  it.each([
    ['cust_abc123', 'abc123'],
    ['cust_56b0430bef364628b3e065d2d124b02a', '56b0430bef364628b3e065d2d124b02a'],
    ['cust_a', 'a'],
    [`cust_${KEY44}`, KEY44],
  ])('accepts %s', (raw, key) => {
    expect(parseCustomerId(raw)).toEqual({ id: raw, key });
  });

  it.each([
    ['12345', /database row id/],
    ['cust_', /not a customer ID/],
    ['cust_ABC', /lowercase/],
    ['cust_abc;rm -rf', /lowercase/],
    ['../cust_a', /not a customer ID/],
    [`cust_${KEY44}a`, /45 characters/],
    ['cust_abc-123', /lowercase/],
    [' cust_abc', /not a customer ID/],
    ['cust_abc\n', /lowercase/],
    ['CUST_abc', /not a customer ID/],
    ['', /not a customer ID/],
    ['cust_é', /lowercase/],
  ])('refuses %j with exit 2', (raw, message) => {
    let err: unknown;
    try {
      parseCustomerId(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidIdError);
    expect((err as Error).message).toMatch(message);
    expect(exitCodeFor(err)).toBe(2);
  });
});

describe('namespaces', () => {
  const c = parseCustomerId('cust_abc123');

  it('derives <prefix><key>', () => {
    expect(namespaceFor(c, 'customer-')).toBe('customer-abc123');
    expect(namespaceFor(c, 'tenant-')).toBe('tenant-abc123');
  });

  it.each(['', null, undefined])('an empty row namespace (%j) means the derived one', (ns) => {
    expect(checkRowNamespace(c, ns, 'customer-')).toBe('customer-abc123');
  });

  it.each(['kube-system', 'default', 'customer-', 'Customer-abc123', 'customer-abc12', 'customer-abc1234', 'customer-abc123 ', 'customer-xyz', 'abc123'])(
    'refuses a row namespace %j with both values shown',
    (ns) => {
      let err: unknown;
      try {
        checkRowNamespace(c, ns, 'customer-');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidNamespaceError);
      expect((err as Error).message).toContain(JSON.stringify(ns));
      expect((err as Error).message).toContain('"customer-abc123"');
      expect(exitCodeFor(err)).toBe(2);
    },
  );

  it.each(['customer-', 'tenant-', 'a-', 'team-a-'])('accepts prefix %j', (p) => {
    expect(parseNamespacePrefix(p)).toBe(p);
  });

  it.each(['kube-', 'customer', 'Customer-', '-', 'cust_', 'customer--x', 'a b-', '1abc-'])('refuses prefix %j', (p) => {
    expect(() => parseNamespacePrefix(p)).toThrow(UsageError);
  });
});

describe('RBAC ownership', () => {
  const obj = (name: string, annotations: Record<string, string> = {}, kind: RbacObject['kind'] = 'ClusterRole'): RbacObject => ({ kind, name, annotations });
  const ann = (ns: string) => ({ 'meta.helm.sh/release-namespace': ns });

  it.each([
    ['cabc123-customer-instance-opencost', {}, 'abc123', 'opencost-name'],
    ['cabc123-customer-instance', {}, 'abc123', 'opencost-name'],
    ['anything', ann('customer-abc123'), 'abc123', 'release-namespace-annotation'],
    ['cabc123-customer-instance-opencost', {}, 'abc12', null],
    ['xcabc123-customer-instance-opencost', {}, 'abc123', null],
    ['cabc123-customer-instancex', {}, 'abc123', null],
    ['cabc1234-customer-instance-opencost', {}, 'abc123', null],
    ['system:controller:namespace-controller', {}, 'abc123', null],
    ['cluster-admin', {}, 'abc123', null],
    ['monitoring-role', ann('monitoring'), 'abc123', null],
    ['x', ann('customer-abc1234'), 'abc123', null],
    ['x', ann('customer-abc12'), 'abc123', null],
  ] as const)('%s %j owned by key %s → %s', (name, annotations, key, rule) => {
    expect(ownershipRule(obj(name, annotations), key, `customer-${key}`)).toBe(rule);
  });

  it('keeps objects annotated resource-policy keep, and unmarked bindings of owned roles', () => {
    const objects: RbacObject[] = [
      obj('cabc123-customer-instance-opencost'),
      { ...obj('cabc123-customer-instance-opencost', {}, 'ClusterRoleBinding'), roleRef: { kind: 'ClusterRole', name: 'cabc123-customer-instance-opencost' } },
      obj('cabc123-customer-instance-keep', { 'helm.sh/resource-policy': 'keep' }),
      { ...obj('someone-elses-binding', {}, 'ClusterRoleBinding'), roleRef: { kind: 'ClusterRole', name: 'cabc123-customer-instance-opencost' } },
      obj('cabc12-customer-instance-opencost'),
    ];
    const c = classifyRbac(objects, 'abc123', 'customer-abc123');
    expect(c.owned.map((o) => `${o.kind}/${o.name}`).sort()).toEqual(['ClusterRole/cabc123-customer-instance-opencost', 'ClusterRoleBinding/cabc123-customer-instance-opencost']);
    expect(c.keptByPolicy.map((o) => o.name)).toEqual(['cabc123-customer-instance-keep']);
    expect(c.keptUnowned.map((o) => o.name)).toEqual(['someone-elses-binding']);
  });
});

describe('durations', () => {
  it.each([
    ['5m', 300_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5s', 1_500],
    ['0', 0],
  ])('parses %s', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });
  it.each(['5', 'm', '5x', '-1s', '', '5m '.repeat(2) + 'x'])('refuses %j', (raw) => {
    expect(() => parseDuration(raw)).toThrow();
  });
  it.each([
    [500, '500ms'],
    [90_000, '1m30s'],
    [300_000, '5m'],
    [5_400_000, '1h30m'],
  ])('formats %d as %s', (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
  });
});
