import { InvalidNamespaceError, UsageError } from './errors.js';
import type { CustomerId } from './customer-id.js';

export const DEFAULT_NAMESPACE_PREFIX = 'customer-';

const PREFIX = /^[a-z]([a-z0-9-]*[a-z0-9])?-$|^[a-z]-$/;

/** Validates CUSTCTL_NAMESPACE_PREFIX: DNS characters, ends in '-', never 'kube-'. */
export function parseNamespacePrefix(raw: string): string {
  if (!PREFIX.test(raw) || raw.length > 20) {
    throw new UsageError(
      `CUSTCTL_NAMESPACE_PREFIX=${JSON.stringify(raw)} is not a valid namespace prefix: use lowercase letters, digits and '-', starting with a letter and ending in '-' (default ${DEFAULT_NAMESPACE_PREFIX})`,
    );
  }
  if (raw.startsWith('kube-')) {
    throw new UsageError(`CUSTCTL_NAMESPACE_PREFIX=${JSON.stringify(raw)} is refused: 'kube-' namespaces belong to Kubernetes itself`);
  }
  return raw;
}

/** The one namespace a customer may own: `<prefix><key>`. */
export function namespaceFor(customer: CustomerId, prefix: string): string {
  return `${prefix}${customer.key}`;
}

/**
 * The row's `instance_namespace`, when set, must be exactly the derived namespace. Anything
 * else (another customer's namespace, kube-system, a corrupted row) is refused before any call
 * to the cluster, and no flag turns this off.
 */
export function checkRowNamespace(customer: CustomerId, rowNamespace: string | null | undefined, prefix: string): string {
  const expected = namespaceFor(customer, prefix);
  if (rowNamespace === null || rowNamespace === undefined || rowNamespace === '') return expected;
  if (rowNamespace !== expected) {
    throw new InvalidNamespaceError(
      `refusing to delete ${customer.id}: its row says instance_namespace=${JSON.stringify(rowNamespace)}, but ${customer.id} may only own namespace ${JSON.stringify(expected)}`,
      ['Nothing was changed. Fix the row (or CUSTCTL_NAMESPACE_PREFIX) and run the command again.'],
    );
  }
  return expected;
}
