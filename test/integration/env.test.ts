// The environment itself (issue 3): the seed's manual test flow, done with the real helm and
// kubectl against the real control plane, before any custctl pipeline exists.
import { describe, expect, it } from 'vitest';
import {
  getNamespace, helm, kubectl, kubectlJson, openCostName, provisionCustomer, randomHexKey, randomKey, unstick, waitFor,
} from '../support/fixtures.js';

interface Named { metadata: { name: string; annotations?: Record<string, string> } }
interface List<T = Named> { items: T[] }

async function clusterRbacNames(key: string): Promise<{ roles: string[]; bindings: string[] }> {
  const [roles, bindings] = await Promise.all([
    kubectlJson<List>(['get', 'clusterroles']),
    kubectlJson<List>(['get', 'clusterrolebindings']),
  ]);
  const mine = (l: List): string[] => l.items.map((i) => i.metadata.name).filter((n) => n.startsWith(`c${key}-customer-instance`));
  return { roles: mine(roles), bindings: mine(bindings) };
}

async function deleteNamespace(namespace: string): Promise<void> {
  const res = await kubectl(['delete', 'namespace', namespace, '--timeout=5m'], { timeoutMs: 310_000 });
  expect(res.exitCode, res.stderr).toBe(0);
  expect(await getNamespace(namespace)).toBeNull();
  const get = await kubectl(['get', 'namespace', namespace]);
  expect(get.exitCode).not.toBe(0);
  expect(get.stderr).toMatch(/NotFound/);
}

describe('the seed manual flow with real helm and kubectl', () => {
  it('provisions cust_<32 hex>, uninstalls, deletes the namespace; release RBAC goes with the release', async () => {
    const key = randomHexKey();
    const c = await provisionCustomer(key);
    expect(c).toEqual({ customerId: `cust_${key}`, key, namespace: `customer-${key}`, release: `customer-${key}` });

    const status = await helm(['status', c.release, '--namespace', c.namespace, '--output', 'json'], { check: true });
    expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe('deployed');

    // a Deployment really gets a (Pending: no nodes) pod through the deployment + replicaset controllers
    const pods = await waitFor(async () => {
      const l = await kubectlJson<List<Named & { status: { phase: string } }>>(['get', 'pods', '--namespace', c.namespace]);
      return l.items.length > 0 ? l.items : null;
    }, 'the Deployment to create a pod');
    expect(pods[0]?.status.phase).toBe('Pending');

    const kinds = 'pods,services,configmaps,secrets,persistentvolumeclaims,resourcequotas,networkpolicies,serviceaccounts,roles,rolebindings,deployments';
    const got = await kubectl(['get', kinds, '--namespace', c.namespace, '-o', 'name'], { check: true });
    for (const expected of [
      'service/customer-instance', 'configmap/customer-instance', 'secret/customer-instance',
      'persistentvolumeclaim/customer-instance-data', 'resourcequota/customer-instance',
      'networkpolicy.networking.k8s.io/customer-instance', 'serviceaccount/customer-instance',
      'role.rbac.authorization.k8s.io/customer-instance', 'rolebinding.rbac.authorization.k8s.io/customer-instance',
      'deployment.apps/customer-instance',
    ]) expect(got.stdout.split('\n')).toContain(expected);
    expect(got.stdout).toMatch(/^pod\/customer-instance-/m);

    // cluster RBAC in the release: stamped by Helm with the release's namespace and name
    expect(await clusterRbacNames(key)).toEqual({ roles: [openCostName(key)], bindings: [openCostName(key)] });
    const role = await kubectlJson<Named>(['get', 'clusterrole', openCostName(key)]);
    expect(role.metadata.annotations).toMatchObject({ 'meta.helm.sh/release-namespace': c.namespace, 'meta.helm.sh/release-name': c.release });

    const un = await helm(['uninstall', c.release, '--namespace', c.namespace], { check: true });
    expect(un.stdout).toMatch(/uninstalled/);
    expect(await clusterRbacNames(key)).toEqual({ roles: [], bindings: [] });

    await deleteNamespace(c.namespace);
  });

  it('cluster RBAC created outside the release survives helm uninstall and namespace deletion', async () => {
    const key = randomKey('rbac');
    const c = await provisionCustomer(key, { rbacOutsideRelease: true });
    expect(await clusterRbacNames(key)).toEqual({ roles: [openCostName(key)], bindings: [openCostName(key)] });

    await helm(['uninstall', c.release, '--namespace', c.namespace], { check: true });
    await deleteNamespace(c.namespace);
    // the reason custctl exists: cluster-scoped objects outlive the namespace
    expect(await clusterRbacNames(key)).toEqual({ roles: [openCostName(key)], bindings: [openCostName(key)] });

    await kubectl(['delete', 'clusterrolebinding,clusterrole', openCostName(key)], { check: true });
  });

  it('a namespace with a finalizer-held object stays Terminating until the finalizer is removed', async () => {
    const key = randomKey('stuck');
    const c = await provisionCustomer(key, { stuck: true });
    await helm(['uninstall', c.release, '--namespace', c.namespace], { check: true });
    await kubectl(['delete', 'namespace', c.namespace, '--wait=false'], { check: true });

    type Ns = { status: { phase: string; conditions?: Array<{ type: string; status: string; message?: string }> } };
    const conditionsHeld = (ns: Ns): boolean => ['NamespaceContentRemaining', 'NamespaceFinalizersRemaining']
      .every((t) => ns.status.conditions?.some((cond) => cond.type === t && cond.status === 'True'));
    const held = await waitFor(async () => {
      const ns = await kubectlJson<Ns>(['get', 'namespace', c.namespace]);
      return conditionsHeld(ns) ? ns : null;
    }, 'NamespaceContentRemaining and NamespaceFinalizersRemaining', 60_000);
    expect(held.status.phase).toBe('Terminating');
    expect(held.status.conditions?.find((x) => x.type === 'NamespaceFinalizersRemaining')?.message).toMatch(/custctl\.test\/stuck/);

    // the namespace controller has finished everything else by now; it still does not go away
    await new Promise((r) => setTimeout(r, 3000));
    const still = await kubectlJson<Ns>(['get', 'namespace', c.namespace]);
    expect(still.status.phase).toBe('Terminating');
    const timedOut = await kubectl(['delete', 'namespace', c.namespace, '--timeout=2s']);
    expect(timedOut.exitCode).not.toBe(0);

    await unstick(c.namespace);
    await waitFor(async () => (await getNamespace(c.namespace)) === null, `${c.namespace} to go away after unstick`, 60_000);
  });
});
