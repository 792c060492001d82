/**
 * A real Prometheus (Debian's `prometheus` package, installed by prepare.sh) on a free 127.0.0.1
 * port, scraping the given targets every second, with its TSDB in a temp dir. Started by the test
 * file that needs it (its targets, e.g. a `custctl serve`, exist only there), in about a second.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports.js';
import { ManagedProcess, startProcess, waitUntil } from './process.js';

export const PROMETHEUS_BIN = process.env.CUSTCTL_TEST_PROMETHEUS ?? '/usr/bin/prometheus';

export interface ScrapeTarget {
  /** the job label */
  job: string;
  /** host:port */
  target: string;
  metricsPath?: string;
  /** a bearer token file (serve's /metrics takes a viewer token) */
  bearerTokenFile?: string;
}

export interface Prometheus {
  url: string;
  process: ManagedProcess;
  /** an instant PromQL query over the HTTP API: the vector's samples */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** the targets' scrape health (`up`, last error) */
  targets(): Promise<Array<{ job: string; health: string; lastError: string }>>;
  stop(): Promise<void>;
}

export async function startPrometheus(dir: string, targets: readonly ScrapeTarget[], logFile = path.join(dir, 'prometheus.log')): Promise<Prometheus> {
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'prometheus.yml');
  const lines = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', '  evaluation_interval: 1s', 'scrape_configs:'];
  for (const t of targets) {
    lines.push(`  - job_name: ${JSON.stringify(t.job)}`, `    metrics_path: ${JSON.stringify(t.metricsPath ?? '/metrics')}`);
    if (t.bearerTokenFile) lines.push('    authorization:', '      type: Bearer', `      credentials_file: ${JSON.stringify(t.bearerTokenFile)}`);
    lines.push('    static_configs:', `      - targets: [${JSON.stringify(t.target)}]`);
  }
  await fs.writeFile(config, `${lines.join('\n')}\n`, { mode: 0o600 });
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess('prometheus', PROMETHEUS_BIN, [
    `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h', '--web.console.templates=/dev/null', '--web.console.libraries=/dev/null',
  ], { logFile });
  const stop = async (): Promise<void> => {
    await proc.stop('SIGTERM', 10_000);
    await fs.rm(path.join(dir, 'data'), { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => (await fetch(`${url}/-/ready`)).ok, { timeoutMs: 60_000, intervalMs: 200, proc, what: 'prometheus /-/ready' });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const api = async <T>(p: string): Promise<T> => {
    const res = await fetch(`${url}${p}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${p}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    process: proc,
    query: async (promql) => {
      const data = await api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    targets: async () => {
      const data = await api<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> }>('/api/v1/targets');
      return data.activeTargets.map((t) => ({ job: t.labels.job ?? '', health: t.health, lastError: t.lastError }));
    },
    stop,
  };
}
