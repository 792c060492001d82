/**
 * Runnable examples in the docs (README.md, docs/*.md): a fenced block preceded by the line
 * `<!-- runnable -->` is run by the docs test, in order, in one bash per page, on the embedded
 * defaults (a fresh state directory, the embedded store, the cluster simulated).
 *
 * Inside the block, as a terminal shows it:
 *   $ custctl customers add cust_demo1 --email ops@example.com --company "Demo Co"
 *   customer cust_demo1 added (deployed, namespace customer-demo1) to embedded (...)
 *   $ custctl status job 99   # exit 3
 * - `$ ` starts a command (a trailing `\` continues it on the next line); what follows up to the
 *   next command is its output as shown: stdout and stderr as they interleave on a terminal.
 * - A command must exit 0, or what its `# exit N` comment says.
 * - Output is compared line by line when shown (trailing spaces ignored): a line `...` stands for
 *   any number of lines, `...` inside a line for any text. A command shown without output is
 *   not compared.
 * - A block without `$ ` lines (plain `sh`) runs each line as a command, output not compared.
 */
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

export const MARKER = '<!-- runnable -->';

export interface ExampleCommand {
  cmd: string;
  /** 1-based line of the command in the file */
  line: number;
  /** the output shown (null: not compared) */
  expected: string[] | null;
  exit: number;
}

export interface Example {
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  commands: ExampleCommand[];
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;

/** The runnable examples of one markdown file. */
export function findExamples(markdown: string, file: string): Example[] {
  const lines = markdown.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i] ?? '');
    if (!m) continue;
    const fence = m[2] as string;
    let end = i + 1;
    while (end < lines.length && !(lines[end] ?? '').trim().startsWith(fence)) end++;
    let prev = i - 1;
    while (prev >= 0 && (lines[prev] ?? '').trim() === '') prev--;
    if (prev >= 0 && (lines[prev] ?? '').trim() === MARKER) {
      out.push({ file, line: i + 1, commands: parseBlock(lines.slice(i + 1, end), i + 2) });
    }
    i = end;
  }
  return out;
}

function exitOf(cmd: string): number {
  const m = /#\s*exit\s+(\d+)\s*$/.exec(cmd);
  return m ? Number(m[1]) : 0;
}

function parseBlock(body: string[], firstLine: number): ExampleCommand[] {
  const prompted = body.some((l) => l.startsWith('$ '));
  const commands: ExampleCommand[] = [];
  if (!prompted) {
    body.forEach((l, k) => {
      if (l.trim() === '' || l.trim().startsWith('#')) return;
      commands.push({ cmd: l, line: firstLine + k, expected: null, exit: exitOf(l) });
    });
    return commands;
  }
  let cur: ExampleCommand | null = null;
  let continuing = false;
  body.forEach((l, k) => {
    if (continuing && cur) {
      cur.cmd += `\n${l.replace(/^> /, '')}`;
      continuing = l.endsWith('\\');
      if (!continuing) cur.exit = exitOf(cur.cmd);
      return;
    }
    if (l.startsWith('$ ')) {
      cur = { cmd: l.slice(2), line: firstLine + k, expected: [], exit: 0 };
      commands.push(cur);
      continuing = l.endsWith('\\');
      if (!continuing) cur.exit = exitOf(cur.cmd);
      return;
    }
    cur?.expected?.push(l);
  });
  for (const c of commands) {
    while (c.expected && c.expected.length && (c.expected[c.expected.length - 1] ?? '').trim() === '') c.expected.pop();
    if (c.expected && c.expected.length === 0) c.expected = null;
  }
  return commands;
}

function lineMatches(pattern: string, actual: string): boolean {
  if (!pattern.includes('...')) return pattern === actual;
  const rx = new RegExp(`^${pattern.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return rx.test(actual);
}

/** Does `actual` match the lines shown (`...` wildcards)? */
export function outputMatches(expected: readonly string[], actual: readonly string[]): boolean {
  const exp = expected.map((l) => l.trimEnd());
  const act = actual.map((l) => l.trimEnd());
  const go = (i: number, j: number): boolean => {
    if (i === exp.length) return j === act.length;
    if (exp[i] === '...') {
      for (let k = j; k <= act.length; k++) if (go(i + 1, k)) return true;
      return false;
    }
    return j < act.length && lineMatches(exp[i] as string, act[j] as string) && go(i + 1, j + 1);
  };
  return go(0, 0);
}

export interface CommandResult {
  command: ExampleCommand;
  exitCode: number;
  output: string[];
  /** null when the command did what the doc shows; else what differs */
  problem: string | null;
}

/**
 * Runs the examples (in order, one bash for all, so `export` and `cd` carry on as in a terminal)
 * with `env` as the whole environment and `cwd` as the working directory. Stops at the first
 * command that does not do what the doc shows.
 */
export async function runExamples(examples: readonly Example[], o: { env: Record<string, string>; cwd: string; timeoutMs?: number }): Promise<CommandResult[]> {
  const tag = `@@docs-${randomBytes(6).toString('hex')}@@`;
  const commands = examples.flatMap((e) => e.commands);
  const script = ['exec 2>&1', ...commands.flatMap((c, i) => [`printf '%s\\n' '${tag} start ${i}'`, c.cmd, `printf '\\n%s\\n' "${tag} end ${i} $?"`])].join('\n');
  const r = await execa('bash', ['--noprofile', '--norc', '-c', script], { env: o.env, extendEnv: false, cwd: o.cwd, reject: false, timeout: o.timeoutMs ?? 600_000, stdin: 'ignore' });
  const lines = String(r.stdout).split('\n');
  const results: CommandResult[] = [];
  let i = 0;
  for (const [n, c] of commands.entries()) {
    while (i < lines.length && lines[i] !== `${tag} start ${n}`) i++;
    if (i >= lines.length) {
      results.push({ command: c, exitCode: -1, output: [], problem: `never ran (the shell stopped before it${r.timedOut ? ': timed out' : ''})` });
      break;
    }
    i++;
    const output: string[] = [];
    let code = -1;
    for (; i < lines.length; i++) {
      const m = new RegExp(`^${tag} end ${n} (\\d+)$`).exec(lines[i] as string);
      if (m) { code = Number(m[1]); break; }
      output.push(lines[i] as string);
    }
    // the newline printed before the end mark
    if (output.length && output[output.length - 1] === '') output.pop();
    while (output.length && (output[output.length - 1] ?? '').trim() === '') output.pop();
    let problem: string | null = null;
    if (code !== c.exit) problem = `exited ${code}, the doc says ${c.exit}`;
    else if (c.expected && !outputMatches(c.expected, output)) problem = 'its output is not what the doc shows';
    results.push({ command: c, exitCode: code, output, problem });
    if (problem) break;
  }
  return results;
}

/** A failure message: where, what, the output shown and the output seen. */
export function describeFailure(e: Example, r: CommandResult): string {
  return [
    `${e.file}:${r.command.line}: \`${r.command.cmd}\` ${r.problem}`,
    ...(r.command.expected ? ['--- the doc shows:', ...r.command.expected] : []),
    '--- it printed:', ...r.output,
  ].join('\n');
}
