/**
 * Job kinds and pipeline steps describe themselves: generic code asks a kind's facts
 * (`kindFacts`, src/domain/job.ts) or its behaviour (src/jobs/kinds/), and a step's own parts
 * (src/pipeline/step.ts), and never compares a job's or a step's name. A comparison like
 * `job.name === 'delete'` or `step.name === 'namespace'` anywhere else in src/ fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JOB_KINDS } from '../../src/domain/job.js';
import { DELETE_STEPS } from '../../src/pipeline/steps/index.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
/** where a kind or a step speaks of itself */
const OWN = [/^jobs\/kinds\//, /^pipeline\/steps\//];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** the names a comparison must not test for: every job kind (and the erasure a kind may become), every step */
const NAMES = new Set([...Object.keys(JOB_KINDS), 'erase', ...DELETE_STEPS.map((s) => s.name)]);

/**
 * `<x>.name === 'lit'`, `name !== 'lit'`, `(job.name as string) === 'lit'`, `t.step === 'lit'`,
 * `'lit' === x.name`, and `case 'lit':` under a `switch (… .name)`.
 */
function comparisons(text: string): string[] {
  const found: string[] = [];
  const left = /\b(?:name|step)(?:\s+as\s+\w+\))?\s*[!=]==?\s*'([^']*)'/g;
  const right = /'([^']*)'\s*[!=]==?\s*[\w.?]*\.(?:name|step)\b/g;
  for (const m of text.matchAll(left)) found.push(m[0]);
  for (const m of text.matchAll(right)) found.push(m[0]);
  for (const sw of text.matchAll(/switch\s*\(\s*[\w.?]*\.(?:name|step)\s*\)\s*\{([\s\S]*?)\n\s*\}/g)) {
    for (const m of (sw[1] ?? '').matchAll(/case\s+'([^']*)'\s*:/g)) found.push(`switch (…name) ${m[0]}`);
  }
  return found.filter((c) => NAMES.has(/'([^']*)'/.exec(c)?.[1] ?? ''));
}

describe('no generic code compares a job kind or a step by name', () => {
  it('knows the names it looks for', () => {
    expect([...NAMES]).toEqual(expect.arrayContaining(['delete', 'cleanup-rbac', 'restore', 'namespace', 'row']));
  });

  it('finds such a comparison (the check sees what it must refuse)', () => {
    expect(comparisons("if (job.name === 'delete') x();\nconst a = (j.name as string) !== 'erase';\nif (t.step === 'namespace') y();\nif ('restore' === e.job.name) z();")).toHaveLength(4);
    expect(comparisons("switch (job.name) {\n  case 'cleanup-rbac': return 1;\n}")).toHaveLength(1);
    expect(comparisons("if (r.removal === 'namespace') x(); if (o.name === 'default') y();")).toEqual([]);
  });

  it('src/ outside the kinds and the steps compares none', () => {
    const hits: string[] = [];
    for (const f of files(SRC)) {
      const rel = path.relative(SRC, f).split(path.sep).join('/');
      if (OWN.some((r) => r.test(rel))) continue;
      for (const c of comparisons(readFileSync(f, 'utf8'))) hits.push(`${rel}: ${c}`);
    }
    expect(hits).toEqual([]);
  });
});
