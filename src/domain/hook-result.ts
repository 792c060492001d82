/**
 * A hook point's result as lines (`status job`, the delete result): apart from the rest of
 * hooks.ts (signing, the calls' rules), which a job's view does not need.
 */
/** Where in a deletion the hooks are called: before anything is deleted, and after the cluster is clean. */
export type HookPoint = 'before' | 'after-cluster';

export interface HookCallBase {
  endpoint: string;
  /** the URL as it may be shown */
  url: string;
  point: HookPoint;
  deliveryId: string;
  /** requests made within this attempt */
  tries: number;
  durationMs: number;
}

/** One endpoint's call at one point, within one attempt. */
export type HookCall =
  | (HookCallBase & { outcome: 'continued'; status: number; message: string | null })
  | (HookCallBase & { outcome: 'refused'; status: number; message: string | null })
  | (HookCallBase & { outcome: 'failed'; status: number | null; error: string });

/**
 * One point within one attempt: `continued` (every endpoint answered 2xx), `refused` (one answered
 * 4xx; the later ones were not called), `failed` (one got no usable answer within its tries),
 * `none` (no endpoint at this point), `passed` (an earlier attempt of the job got past it).
 */
export interface HookPointResult {
  point: HookPoint;
  outcome: 'continued' | 'refused' | 'failed' | 'none' | 'passed';
  calls: HookCall[];
  /** endpoints not called because an earlier one refused or failed */
  notCalled: string[];
}


/** The result lines of one point (`status job`, the delete result). */
export function hookResultLines(r: HookPointResult): string[] {
  if (r.outcome === 'none') return [];
  if (r.outcome === 'passed') return [`hooks (${r.point}): an earlier attempt of this job got past this point: not called again`];
  const lines = r.calls.map((c) => {
    const head = `hook ${c.endpoint} (${r.point})`;
    const tries = c.tries > 1 ? ` after ${c.tries} tries` : '';
    if (c.outcome === 'continued') return `${head}: continued (HTTP ${c.status}${tries})${c.message ? `: ${c.message}` : ''}`;
    if (c.outcome === 'refused') return `${head}: refused (HTTP ${c.status})${c.message ? `: ${c.message}` : ''}`;
    return `${head}: failed${tries}: ${c.error}`;
  });
  if (r.notCalled.length > 0) lines.push(`hook ${r.notCalled.join(', ')} (${r.point}): not called`);
  return lines;
}
