/**
 * Every fenced example marked `<!-- runnable -->` in README.md and docs/*.md runs, as printed, on
 * the embedded defaults: a fresh home and state directory, no database or kubeconfig configured,
 * the cluster simulated, `custctl` on PATH being this tree's build. One bash per page, so a page's
 * examples build on each other as they do for a reader. The format: test/support/docs-examples.ts.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';
import { describeFailure, findExamples, runExamples, type Example } from '../support/docs-examples.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pages = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const examples = new Map<string, Example[]>(pages.map((p) => [p, findExamples(readFileSync(path.join(ROOT, p), 'utf8'), p)]));

function sandbox(): { env: Record<string, string>; cwd: string } {
  const home = mkdtempSync(path.join(tmpdir(), 'custctl-docs-'));
  const bin = path.join(home, '.bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'custctl'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
  return {
    cwd: home,
    env: {
      PATH: `${bin}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: home,
      CUSTCTL_STATE_DIR: path.join(home, 'state'),
      SIMULATE_K8S_DEPLOYMENT: 'true',
      NO_COLOR: '1',
      TERM: 'dumb',
      LANG: 'C.UTF-8',
    },
  };
}

describe('runnable examples in the docs', () => {
  it('there are some (README.md and docs/*.md)', () => {
    expect([...examples.values()].flat().length).toBeGreaterThan(0);
  });

  for (const [page, list] of examples) {
    if (list.length === 0) continue;
    it(`${page}: ${list.length} example(s), ${list.flatMap((e) => e.commands).length} command(s), do what the page shows`, async () => {
      const results = await runExamples(list, { ...sandbox(), timeoutMs: 600_000 });
      const failed = results.find((r) => r.problem !== null);
      const example = failed && list.find((e) => e.commands.includes(failed.command));
      expect(failed ? describeFailure(example as Example, failed) : null).toBeNull();
      expect(results).toHaveLength(list.flatMap((e) => e.commands).length);
    }, 900_000);
  }
});
