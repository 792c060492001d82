import { chmodSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { changeTokensFile, followTokensFile, generateToken, readTokensFile } from '../../src/adapters/tokens-file.js';
import { checkNewEntry, formatTokenLine, lineName, parseTokensFile, sha256Hex } from '../../src/domain/tokens-file.js';
import { authenticate } from '../../src/server/auth.js';

const dir = mkdtempSync(path.join(tmpdir(), 'custctl-tokens-'));
const line = (name: string, role: 'admin' | 'viewer', tok: string) => formatTokenLine({ name, role }, sha256Hex(tok));

describe('the tokens file', () => {
  it('a generated token is a long printable bearer token, never the same twice', () => {
    const a = generateToken();
    expect(a).toMatch(/^custctl_[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(a);
  });

  it('formatTokenLine writes what parseTokensFile reads (the format serve reads)', () => {
    const text = `${formatTokenLine({ name: 'a', role: 'admin' }, sha256Hex('t1'))}\n${formatTokenLine({ name: 'o', role: 'owner', customerId: 'cust_x1' }, sha256Hex('t2'))}\n`;
    const set = parseTokensFile(text, 'f');
    expect(authenticate(set, 't1')).toEqual({ name: 'a', role: 'admin' });
    expect(authenticate(set, 't2')).toEqual({ name: 'o', role: 'owner', customerId: 'cust_x1' });
    expect(lineName('  # comment')).toBeNull();
    expect(lineName('o:owner:cust_x1:ab')).toBe('o');
  });

  it.each([
    [{ name: '-x', role: 'admin' }, /token name "-x"/],
    [{ name: 'a'.repeat(65), role: 'admin' }, /token name/],
    [{ name: 'x', role: 'owner' }, /add --customer/],
    [{ name: 'x', role: 'viewer', customerId: 'cust_a' }, /--customer is for --role owner/],
  ])('checkNewEntry refuses %j', (o, re) => {
    expect(() => checkNewEntry(o)).toThrow(re);
  });

  it('a change keeps the other lines (comments too) and writes 0600', async () => {
    const f = path.join(dir, 'keep');
    writeFileSync(f, `# production tokens\n${line('a', 'admin', 't1')}\n\n# grafana\n${line('g', 'viewer', 't2')}\n`, { mode: 0o640 });
    await changeTokensFile(f, (cur) => ({ lines: cur!.lines.filter((l) => lineName(l) !== 'a'), result: null }));
    expect(readFileSync(f, 'utf8')).toBe(`# production tokens\n\n# grafana\n${line('g', 'viewer', 't2')}\n`);
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('a change that would leave a file serve cannot read is not written', async () => {
    const f = path.join(dir, 'bad');
    writeFileSync(f, `${line('a', 'admin', 't1')}\n`, { mode: 0o600 });
    await expect(changeTokensFile(f, (cur) => ({ lines: [...cur!.lines, 'a:admin:nothex'], result: null }))).rejects.toThrow(/line 2/);
    expect(readFileSync(f, 'utf8')).toBe(`${line('a', 'admin', 't1')}\n`);
    expect(await readTokensFile(path.join(dir, 'absent'))).toBeNull();
  });

  it('followTokensFile reloads a changed file and keeps the last good tokens when the new one is broken or loose', () => {
    const f = path.join(dir, 'follow');
    writeFileSync(f, `${line('a', 'admin', 't1')}\n`, { mode: 0o600 });
    const said: string[] = [];
    const set = followTokensFile(f, parseTokensFile(readFileSync(f, 'utf8'), f), (level, m) => said.push(`${level} ${m}`));
    expect(authenticate(set, 't1')?.name).toBe('a');
    writeFileSync(f, `${line('b', 'viewer', 't2')}\n`);
    utimesSync(f, new Date(), new Date(Date.now() + 5_000));
    expect(authenticate(set, 't1')).toBeNull();
    expect(authenticate(set, 't2')?.name).toBe('b');
    expect(said.at(-1)).toMatch(/^info Tokens file .* reloaded: 1 token/);
    writeFileSync(f, 'garbage\n');
    utimesSync(f, new Date(), new Date(Date.now() + 10_000));
    expect(authenticate(set, 't2')?.name).toBe('b');
    expect(said.at(-1)).toMatch(/^warn Tokens file .* was not loaded, the previous tokens stay in force/);
    const n = said.length;
    authenticate(set, 't2');
    expect(said).toHaveLength(n); // said once per change
    writeFileSync(f, `${line('c', 'admin', 't3')}\n`);
    chmodSync(f, 0o666);
    utimesSync(f, new Date(), new Date(Date.now() + 15_000));
    expect(authenticate(set, 't3')).toBeNull();
    expect(said.at(-1)).toMatch(/writable by everyone/);
  });
});
