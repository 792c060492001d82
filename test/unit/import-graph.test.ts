/**
 * The layering of src/, read from the imports themselves (STYLE §2): arrows point down only,
 * commands -> service -> jobs -> pipeline -> adapters -> domain; the server sits beside the commands over the
 * service; output renders for the commands. A change that breaks a rule fails here, naming the
 * import.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

interface Edge { from: string; to: string; typeOnly: boolean; dynamic: boolean }

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function edges(): Edge[] {
  const out: Edge[] = [];
  const rx = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(rx)) {
      const spec = (m[3] ?? m[4]) as string;
      const to = path.relative(SRC, path.resolve(path.dirname(f), spec)).replace(/\.js$/, '.ts');
      out.push({ from: path.relative(SRC, f), to, typeOnly: Boolean(m[2]), dynamic: m[4] !== undefined });
    }
  }
  return out;
}

const layer = (file: string) => (file.includes('/') ? (file.split('/')[0] as string) : '(top)');
const all = edges();
const show = (es: Edge[]) => es.map((e) => `${e.from} -> ${e.to}`);

describe('import graph of src/', () => {
  it('reads the imports (the parser sees the layers)', () => {
    expect(all.length).toBeGreaterThan(100);
    // db/ and util/ import nothing of src/
    expect(new Set(all.map((e) => layer(e.from)))).toEqual(new Set(['(top)', 'adapters', 'commands', 'domain', 'jobs', 'output', 'pipeline', 'server', 'service']));
    for (const e of all) expect(statSync(path.join(SRC, e.to)).isFile(), `${e.from} -> ${e.to}`).toBe(true);
  });

  it('a command imports no other command', () => {
    expect(show(all.filter((e) => layer(e.from) === 'commands' && layer(e.to) === 'commands'))).toEqual([]);
  });

  it('domain/ imports only domain/', () => {
    expect(show(all.filter((e) => layer(e.from) === 'domain' && layer(e.to) !== 'domain'))).toEqual([]);
  });

  it.each([
    ['adapters', ['pipeline', 'jobs', 'commands', 'server', 'output', 'service']],
    ['pipeline', ['jobs', 'commands', 'server', 'output', 'service']],
    ['jobs', ['commands', 'server', 'output', 'service']],
    ['service', ['commands', 'server', 'output']],
    ['output', ['commands', 'server', 'jobs', 'service']],
    ['server', ['commands', 'output']],
    ['util', ['(top)', 'adapters', 'commands', 'db', 'domain', 'jobs', 'output', 'pipeline', 'server', 'service']],
  ])('%s/ imports none of %j (arrows point down)', (from, forbidden) => {
    expect(show(all.filter((e) => layer(e.from) === from && forbidden.includes(layer(e.to)) && !(from === 'output' && e.typeOnly)))).toEqual([]);
  });

  it('commands reach the jobs through Deps.client(), never a backend or the queue API client directly', () => {
    const direct = all.filter((e) => layer(e.from) === 'commands' && /^adapters\/(file-journal|bullmq-queue|bullmq-redis|queue-client)\.ts$/.test(e.to));
    expect(show(direct)).toEqual([]);
    expect(show(all.filter((e) => layer(e.from) === 'commands' && /^service\/(local|remote)\.ts$/.test(e.to) && !e.from.endsWith('serve.ts')))).toEqual([]);
  });

  it('the service reads its process through ServiceEnv, never the composition root (type-only imports included)', () => {
    expect(show(all.filter((e) => layer(e.from) === 'service' && e.to === 'deps.ts'))).toEqual([]);
  });

  it('no import cycle among modules (static imports, type-only ones included)', () => {
    // A dynamic `import()` is left out: it loads an optional part on first use (an S3 target, the
    // local runner) and creates no cycle when modules load. Type-only imports count: a circle of
    // types is a circle of concepts, and it turns into a load cycle the day one import carries a value.
    expect(cyclesOf(all.filter((x) => !x.dynamic)).filter((c) => !KNOWN_CYCLES.has(c))).toEqual([]);
  });

  it('nothing below the commands imports the composition root (src/deps.ts), type-only imports included', () => {
    const below = all.filter((e) => BELOW_COMMANDS.includes(layer(e.from)) && e.to === 'deps.ts');
    expect(show(below.filter((e) => !DEPS_ALLOWLIST.has(e.from)))).toEqual([]);
  });

  it('the allowlists hold only what still breaks the rules (an entry fixed is an entry to delete)', () => {
    const importers = new Set(all.filter((e) => e.to === 'deps.ts').map((e) => e.from));
    expect([...DEPS_ALLOWLIST].filter((f) => !importers.has(f))).toEqual([]);
    const cycles = new Set(cyclesOf(all.filter((x) => !x.dynamic)));
    expect([...KNOWN_CYCLES].filter((c) => !cycles.has(c))).toEqual([]);
  });
});

/** The layers that receive a narrow environment from their caller instead of `Deps`. */
const BELOW_COMMANDS = ['jobs', 'pipeline', 'adapters', 'domain', 'server', 'service'];

/** Files below the commands that may still import src/deps.ts: none (an entry here is a debt to pay, with its reason). */
const DEPS_ALLOWLIST = new Set<string>([]);

/** Import cycles tolerated, each as `cyclesOf` names it: none. */
const KNOWN_CYCLES = new Set<string>([]);

/** Every cycle a depth-first walk meets, `a -> b -> a`, walked from the files in sorted order. */
function cyclesOf(es: Edge[]): string[] {
  const graph = new Map<string, string[]>();
  for (const e of es) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (n: string, trail: string[]) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(n)), n].join(' -> '));
      return;
    }
    state.set(n, 'open');
    for (const m of graph.get(n) ?? []) visit(m, [...trail, n]);
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) visit(n, []);
  return cycles;
}
