/** How a kube client is opened (src/adapters/kube/index.ts's openKube). Open for more fields. */
import type { RetryEvent, RetryPolicy } from '../retry.js';
import type { KubeconfigOptions } from './kubeconfig.js';
import type { TransportOptions } from './transport.js';

export interface OpenKubeOptions extends KubeconfigOptions {
  userAgent: string;
  /** told of every request retry (a transient fault: 429, 5xx, reset, refused, timeout) */
  onRetry?: (e: RetryEvent & { op: string }) => void;
  /** tests: a faster policy, a fake sleep */
  retry?: { policy?: RetryPolicy; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> };
  /** the connection pool (the bench turns keep-alive off to compare) */
  transport?: TransportOptions;
}
