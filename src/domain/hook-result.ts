/**
 * A hook point's result as lines (`status job`, the delete result): apart from the rest of
 * hooks.ts (signing, the calls' rules), which a job's view does not need.
 */
import type { HookPointResult } from './hooks.js';

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
