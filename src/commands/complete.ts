/**
 * `custctl __complete -- <words…>` (hidden): what the scripts of `custctl completion` ask at each
 * TAB (the model of kubectl's and gh's `__complete`). The answer is read from the command tree
 * itself — its subcommands, each command's own options and the program's global ones, their
 * choices, the arguments, and which ids each command offers (`withCompletions`, registered with
 * the command: src/completions.ts) — so completions cannot drift from the commands. Customer and job ids
 * come from the store and the journal within a short time limit; the cluster is never asked.
 *
 * Protocol: the words after `custctl` up to the cursor, the last one the word being completed
 * ('' after a space). Stdout: one candidate per line, `value<TAB>description`, then one last line
 * `:files` (the shell completes file names) or `:nofiles`. Nothing goes wrong loudly: a failure
 * is no candidates.
 */
import { hasUnsafe, visible } from '../domain/visible.js';
import { stat } from 'node:fs/promises';
import { Command as TypedCommand } from '@commander-js/extra-typings';
import type { Command, Option } from 'commander';
import type { CustomerRow } from '../adapters/store.js';
import { completionsOf, type Completions } from '../completions.js';
import { buildConfig, type GlobalFlags } from '../config.js';
import { queueBackendOf } from '../jobs/backends.js';
import type { Deps } from '../deps.js';
import { parseDuration } from '../domain/duration.js';
import type { Job } from '../domain/job.js';
import { within } from '../util/within.js';

export interface Candidate {
  value: string;
  description: string;
}

/** What the word under the cursor can be. */
export type Want =
  | { kind: 'words'; candidates: Candidate[] }
  | { kind: 'files' }
  | { kind: 'customers'; where: string; force: boolean; given: readonly string[]; offer?: Completions['customers'] }
  | { kind: 'jobs'; where: string; given: readonly string[]; offer?: Completions['jobs'] }
  | { kind: 'contexts' };

export interface Reading {
  /** the word being completed */
  partial: string;
  /** put before each candidate: `--output=` when completing `--output=js` */
  prefix: string;
  want: Want;
  /** the program's own options given on the line (--store, --api-url, …), by attribute name */
  globals: Record<string, string | boolean>;
}

const NONE: Want = { kind: 'words', candidates: [] };

function takesValue(o: Option): boolean {
  return o.required || o.optional;
}

function isOptionLike(w: string): boolean {
  return w.length > 1 && w.startsWith('-');
}

/** The command and its ancestors, the program first (commander parses the outer options first). */
function lineage(c: Command): Command[] {
  const out: Command[] = [];
  for (let x: Command | null = c; x; x = x.parent) out.unshift(x);
  return out;
}

/** The option `flag` names, on this command or an ancestor: the program's options work after subcommands. */
function findOption(c: Command, flag: string): Option | undefined {
  for (const x of lineage(c)) {
    const o = [...x.options, ...x.createHelp().visibleOptions(x)].find((opt) => opt.long === flag || opt.short === flag);
    if (o) return o;
  }
  return undefined;
}

function subcommand(c: Command, word: string): Command | undefined {
  return c.commands.find((s) => s.name() === word || s.aliases().includes(word));
}

function visibleCommands(c: Command): Command[] {
  return c.createHelp().visibleCommands(c);
}

/** `--status <status>` → `status`. */
function valueName(o: Option): string {
  return /[<[]([^>\].]+)/.exec(o.flags)?.[1] ?? '';
}

function words(values: readonly string[], describe: (v: string) => string = () => ''): Want {
  return { kind: 'words', candidates: values.map((v) => ({ value: v, description: describe(v) })) };
}

function optionValue(o: Option, where: string): Want {
  if (o.argChoices) return words(o.argChoices);
  const name = valueName(o);
  if (o.long === '--customer' || /^customer-?id$/i.test(name)) return { kind: 'customers', where: `${where} ${o.long ?? ''}`.trim(), force: false, given: [] };
  if (/^job-?id$/i.test(name)) return { kind: 'jobs', where: `${where} ${o.long ?? ''}`.trim(), given: [] };
  if (o.long === '--context') return { kind: 'contexts' };
  if (/path|file|dir/i.test(name)) return { kind: 'files' };
  return NONE;
}

/**
 * The options offered at `command`: its own, then its ancestors' (global flags), without the
 * ancestors' --help and --version (they are the program's, not this command's), without those
 * already given (unless variadic). `shorts`: also `-o` beside `--output`.
 */
function optionNames(command: Command, used: ReadonlySet<string>, shorts: boolean): Want {
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  const chain = lineage(command).reverse();
  chain.forEach((c, depth) => {
    for (const o of c.createHelp().visibleOptions(c)) {
      if (depth > 0 && (o.long === '--help' || o.long === '--version')) continue;
      if (used.has(o.attributeName()) && !o.variadic) continue;
      for (const flag of [o.long, shorts ? o.short : undefined]) {
        if (flag === undefined || seen.has(flag)) continue;
        seen.add(flag);
        candidates.push({ value: flag, description: o.description });
      }
    }
  });
  return { kind: 'words', candidates };
}

function commandPath(c: Command): string {
  return lineage(c).slice(1).map((x) => x.name()).join(' ');
}

function commandNames(c: Command, withHelp: boolean): Want {
  return {
    kind: 'words',
    candidates: visibleCommands(c).filter((s) => withHelp || s.name() !== 'help').map((s) => ({ value: s.name(), description: s.description() })),
  };
}

/**
 * Reads the line the way commander parses it — the program's options anywhere, a subcommand as
 * the first operand, an option's value as the next word (or after `=`, or glued to a short flag),
 * more values after a variadic option, nothing but operands after `--` — and says what the last
 * word can be.
 */
export function readLine(root: Command, line: readonly string[]): Reading {
  let command = root;
  let given: string[] = []; // the operands of `command`
  let help = false; // `custctl [command] help …`
  let dashdash = false;
  let pending: Option | undefined; // an option waiting for its value
  let variadic: Option | undefined; // a variadic option that takes more values
  const used = new Set<string>();
  const globals: Record<string, string | boolean> = {};
  const record = (o: Option, v: string | boolean) => {
    used.add(o.attributeName());
    if (root.options.includes(o)) globals[o.attributeName()] = v;
  };
  const partial = line.at(-1) ?? '';
  for (const w of line.slice(0, -1)) {
    if (pending && !(pending.optional && isOptionLike(w))) {
      record(pending, w);
      if (pending.variadic) variadic = pending;
      pending = undefined;
      continue;
    }
    pending = undefined;
    if (dashdash) {
      given.push(w);
      continue;
    }
    if (w === '--') {
      dashdash = true;
      continue;
    }
    if (variadic && !isOptionLike(w)) continue;
    variadic = undefined;
    if (isOptionLike(w)) {
      const eq = w.startsWith('--') ? w.indexOf('=') : -1;
      const whole = findOption(command, eq > 0 ? w.slice(0, eq) : w);
      // `-ojson`: a short flag with its value glued on (or `-vy`: several short flags)
      const glued = whole === undefined && !w.startsWith('--') ? findOption(command, w.slice(0, 2)) : undefined;
      const o = whole ?? glued;
      if (o === undefined) continue; // unknown: taken as a flag without a value
      if (!takesValue(o)) {
        record(o, !o.negate);
        continue;
      }
      const inline = eq > 0 ? w.slice(eq + 1) : glued ? w.slice(2) : undefined;
      if (inline === undefined) pending = o;
      else {
        record(o, inline);
        if (o.variadic) variadic = o;
      }
      continue;
    }
    if (help) {
      given.push(w);
      continue;
    }
    const sub = given.length === 0 ? subcommand(command, w) : undefined;
    if (sub) {
      command = sub;
      given = [];
    } else if (given.length === 0 && w === 'help' && visibleCommands(command).some((s) => s.name() === 'help')) {
      help = true;
    } else {
      given.push(w);
    }
  }

  const where = commandPath(command);
  const reading = (want: Want, prefix = ''): Reading => ({ partial, prefix, want, globals });
  if (pending) return reading(optionValue(pending, where));
  if (!dashdash && variadic && !isOptionLike(partial)) return reading(optionValue(variadic, where));
  if (!dashdash && partial.startsWith('--') && partial.includes('=')) {
    const flag = partial.slice(0, partial.indexOf('='));
    const o = findOption(command, flag);
    return reading(o && takesValue(o) ? optionValue(o, where) : NONE, `${flag}=`);
  }
  if (!dashdash && partial.startsWith('-')) return reading(optionNames(command, used, !partial.startsWith('--')));
  if (help) return reading(given.length === 0 ? commandNames(command, false) : NONE); // `help [command]`
  if (given.length === 0 && visibleCommands(command).length > 0) return reading(commandNames(command, true));
  const args = command.registeredArguments;
  const last = args.at(-1);
  const arg = args[given.length] ?? (last?.variadic ? last : undefined);
  if (arg === undefined) return reading(dashdash ? NONE : optionNames(command, used, false)); // no operand can come: the flags
  if (arg.argChoices) return reading(words(arg.argChoices));
  // the command's own rules say which ids make sense as its operands (src/completions.ts)
  const rules = completionsOf(command);
  if (/^customer-?id$/i.test(arg.name())) return reading({ kind: 'customers', where, force: used.has('force'), given, ...(rules.customers ? { offer: rules.customers } : {}) });
  if (/^job-?id$/i.test(arg.name())) return reading({ kind: 'jobs', where, given, ...(rules.jobs ? { offer: rules.jobs } : {}) });
  return reading(NONE);
}

export interface IdSources {
  /** the customers come from the embedded store (PGlite: ~3 s of CPU to open, measured) */
  embedded?(): Promise<boolean>;
  customers(): Promise<CustomerRow[]>;
  jobs(): Promise<Job[]>;
  contexts(): Promise<string[]>;
}

export interface Answer {
  candidates: Candidate[];
  files: boolean;
}

/** The candidates for `reading` that start with the word under the cursor, ids from `sources`. */
export async function answer(reading: Reading, sources: IdSources): Promise<Answer> {
  const want = reading.want;
  let candidates: Candidate[];
  switch (want.kind) {
    case 'files':
      return { candidates: [], files: true };
    case 'words':
      candidates = want.candidates;
      break;
    case 'contexts':
      candidates = (await sources.contexts()).map((c) => ({ value: c, description: 'kube context' }));
      break;
    case 'customers': {
      const ok = want.offer ?? (() => true);
      candidates = (await sources.customers())
        .filter((r) => ok(r, want.force) && !want.given.includes(r.customerId))
        .map((r) => ({ value: r.customerId, description: `${r.companyName} (${r.deploymentStatus})` }));
      break;
    }
    case 'jobs': {
      const ok = want.offer ?? (() => true);
      candidates = (await sources.jobs())
        .filter((j) => ok(j) && !want.given.includes(j.id))
        .map((j) => ({ value: j.id, description: `${j.name} ${j.data.customerId ?? ''} (${j.state})`.replace(/ {2,}/g, ' ') }));
      break;
    }
  }
  const typed = reading.partial.slice(reading.prefix.length);
  return {
    candidates: candidates.filter((c) => c.value.startsWith(typed)).map((c) => ({ ...c, value: reading.prefix + c.value })),
    files: false,
  };
}

/** One line per candidate, `value<TAB>description` (single line, no tabs), then `:files` or `:nofiles`. */
export function formatAnswer(a: Answer): string {
  // shells draw descriptions on the terminal (a company name among them): made visible; a value
  // the terminal would act on (a row's id, a context name) is not offered at all
  const clean = (s: string) => visible(s.replace(/[\t\r\n]+/g, ' ').trim());
  const lines = a.candidates.filter((c) => !hasUnsafe(c.value)).map((c) => (c.description ? `${c.value}\t${clean(c.description)}` : c.value));
  return [...lines, a.files ? ':files' : ':nofiles'].join('\n') + '\n';
}

/** PostgreSQL, Redis, the journal: a person at a terminal waits this long at most. */
export const DEFAULT_COMPLETE_TIMEOUT_MS = 2_000;
/** The embedded store costs ~2.8 s of CPU to open (PGlite, measured): its ids need longer. */
export const DEFAULT_EMBEDDED_COMPLETE_TIMEOUT_MS = 5_000;

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

/**
 * The store and the journal this line would use (its --store, the environment), read-only in
 * spirit: nothing is created where nothing exists, a locked embedded store is not waited for,
 * and with --api-url (the ids live behind the queue API) there are none.
 */
export function localSources(d: Deps, globals: Reading['globals']): IdSources {
  const flags: GlobalFlags = {
    ...(str(globals.store) !== undefined ? { store: str(globals.store) } : {}),
    ...(str(globals.apiUrl) !== undefined ? { apiUrl: str(globals.apiUrl) } : {}),
  };
  const config = () => buildConfig(d.env, flags);
  return {
    async embedded() {
      const { chooseStore } = await import('../adapters/open-store.js');
      try {
        const c = config();
        return chooseStore({ store: c.store, env: d.env, simulate: c.simulate, ...(c.databaseUrl !== undefined ? { databaseUrl: c.databaseUrl } : {}) }) === 'embedded';
      } catch {
        return false;
      }
    },
    async customers() {
      const c = config();
      if (c.apiUrl) return [];
      const { chooseStore, embeddedStoreDir, openStore } = await import('../adapters/open-store.js');
      const cfg = { store: c.store, env: d.env, simulate: c.simulate, stateDir: c.stateDir, lockWaitMs: 200, ...(c.databaseUrl !== undefined ? { databaseUrl: c.databaseUrl } : {}) };
      if (chooseStore(cfg) === 'embedded' && !(await exists(embeddedStoreDir(c.stateDir)))) return [];
      const store = await openStore(cfg);
      try {
        return await store.list();
      } finally {
        await store.close().catch(() => undefined);
      }
    },
    async jobs() {
      const c = config();
      if (c.apiUrl) return [];
      const { backend, ctx } = await queueBackendOf(d);
      if (!backend.mayHaveJobs(ctx)) return [];
      return (await d.jobs()).list();
    },
    async contexts() {
      const { contextNames } = await import('../adapters/kube/kubeconfig.js'); // js-yaml: only for --context
      return contextNames({ ...(str(globals.kubeconfig) !== undefined ? { kubeconfig: str(globals.kubeconfig) } : {}), env: d.env });
    },
  };
}

/** CUSTCTL_COMPLETE_TIMEOUT, else `fallback`. */
function timeLimit(d: Deps, fallback: number): number {
  const raw = d.env.CUSTCTL_COMPLETE_TIMEOUT;
  if (!raw) return fallback;
  try {
    return parseDuration(raw);
  } catch {
    return fallback;
  }
}

export async function runComplete(d: Deps, root: Command, line: readonly string[], sources?: IdSources): Promise<Answer> {
  const reading = readLine(root, line.length > 0 ? line : ['']);
  try {
    const s = sources ?? localSources(d, reading.globals);
    const slow = reading.want.kind === 'customers' && (await s.embedded?.()) === true;
    return await within(answer(reading, s), timeLimit(d, slow ? DEFAULT_EMBEDDED_COMPLETE_TIMEOUT_MS : DEFAULT_COMPLETE_TIMEOUT_MS), 'completion');
  } catch (e) {
    d.log.debug('no completion', { error: e instanceof Error ? e.message : String(e) });
    return { candidates: [], files: false };
  }
}

/**
 * `loadTree(words)`: the program with the commands these (completed) words need, as main builds
 * it for a run: only the named command's module, or all of them at the top.
 */
export function makeCompleteCommand(d: Deps, loadTree: (words: readonly string[]) => Promise<unknown>) {
  // created through a parent, the one way commander marks a command hidden before it is added
  return new TypedCommand()
    .command('__complete', { hidden: true })
    .description('answer a shell completion (used by the scripts of `custctl completion`)')
    .argument('[words...]', 'the words after custctl, the last one the word being completed')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (line: string[]) => {
      const root = (await loadTree(line.slice(0, -1))) as Command;
      d.io.out.write(formatAnswer(await runComplete(d, root, line)));
    });
}
