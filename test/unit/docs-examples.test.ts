/** The docs test's reader and runner (test/support/docs-examples.ts), on examples made to pass and to fail. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeFailure, findExamples, outputMatches, runExamples } from '../support/docs-examples.js';

const page = [
  '# A page',
  '',
  '```sh',
  'not runnable: no marker',
  '```',
  '',
  '<!-- runnable -->',
  '```console',
  '$ echo hello world',
  'hello world',
  '$ export GREETING=hi',
  '$ printf "%s\\n" "$GREETING" one two \\',
  '>   three',
  'hi',
  '...',
  'three',
  '$ ls /nonexistent-dir   # exit 2',
  '```',
  '',
  '<!-- runnable -->',
  '',
  '```sh',
  'cd /tmp',
  '# a comment',
  'test "$PWD" = /tmp',
  '```',
].join('\n');

describe('docs examples', () => {
  it('finds the blocks marked runnable, their commands, the output shown and the exit status', () => {
    const ex = findExamples(page, 'page.md');
    expect(ex.map((e) => e.line)).toEqual([8, 22]);
    expect(ex[0]!.commands).toEqual([
      { cmd: 'echo hello world', line: 9, expected: ['hello world'], exit: 0 },
      { cmd: 'export GREETING=hi', line: 11, expected: null, exit: 0 },
      { cmd: 'printf "%s\\n" "$GREETING" one two \\\n  three', line: 12, expected: ['hi', '...', 'three'], exit: 0 },
      { cmd: 'ls /nonexistent-dir   # exit 2', line: 17, expected: null, exit: 2 },
    ]);
    expect(ex[1]!.commands.map((c) => c.cmd)).toEqual(['cd /tmp', 'test "$PWD" = /tmp']);
  });

  it.each([
    [['a', '...', 'd'], ['a', 'b', 'c', 'd'], true],
    [['a', '...'], ['a'], true],
    [['job ... done'], ['job 12 done'], true],
    [['a', 'b'], ['a', 'b  '], true],
    [['a', 'b'], ['a', 'c'], false],
    [['a'], ['a', 'b'], false],
    [['x (1.5 s)'], ['x (1x5 s)'], false],
  ])('%j against %j: %s', (expected, actual, ok) => {
    expect(outputMatches(expected, actual)).toBe(ok);
  });

  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const cwd = mkdtempSync(path.join(tmpdir(), 'docs-examples-'));

  it('runs them in one shell, in order: what the doc shows passes', async () => {
    const results = await runExamples(findExamples(page, 'page.md'), { env, cwd });
    expect(results.map((r) => r.problem)).toEqual([null, null, null, null, null, null]);
    expect(results[3]!.exitCode).toBe(2);
  });

  it('fails an example that exits non-zero, and one whose output is not what is shown', async () => {
    const bad = findExamples(['<!-- runnable -->', '```console', '$ echo changed', 'hello', '$ echo never', '```'].join('\n'), 'bad.md');
    const r1 = await runExamples(bad, { env, cwd });
    expect(r1).toHaveLength(1); // it stops at the first difference
    expect(r1[0]!.problem).toBe('its output is not what the doc shows');
    expect(describeFailure(bad[0]!, r1[0]!)).toBe('bad.md:3: `echo changed` its output is not what the doc shows\n--- the doc shows:\nhello\n--- it printed:\nchanged');
    const failing = findExamples(['<!-- runnable -->', '```sh', 'false', '```'].join('\n'), 'f.md');
    const r2 = await runExamples(failing, { env, cwd });
    expect(r2[0]!.problem).toBe('exited 1, the doc says 0');
  });
});
