/** `-o yaml` through the built binary: the same document as `-o json`. */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';

describe('custctl -o yaml (built binary, embedded store, simulated)', () => {
  it('customers add -o yaml prints the row that customers list -o json lists', async () => {
    const env = { NO_COLOR: '1', SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'cli-yaml-')) };
    const run = (args: string[]) => execa('node', [BIN, '--store', 'embedded', ...args], { reject: false, env, input: '' });
    const added = await run(['customers', 'add', 'cust_yaml1', '--email', 'ops@example.com', '--company', 'Example Corp', '-o', 'yaml']);
    expect(added.exitCode).toBe(0);
    expect(String(added.stdout)).toMatch(/^id: 1\ncustomerId: cust_yaml1\n/);
    const listed = await run(['customers', 'list', '-o', 'json']);
    expect(listed.exitCode).toBe(0);
    expect([parse(String(added.stdout))]).toEqual(JSON.parse(String(listed.stdout)));
  }, 180_000); // PGlite starts in each command: slow on a loaded machine
});
