/**
 * Streams, colour and the progress reporter. Results go to `out`, everything else to `err`.
 * Colour is decided per stream: escape codes only on a stream that is a terminal (`custctl jobs
 * list | cat -v` gets none even when stderr is a terminal, and the reverse). A spinner only on a
 * TTY; plain timestamped lines otherwise. NO_COLOR is honoured here (chalk 5 reads only FORCE_COLOR).
 * Every value a log line carries is made visible (src/domain/visible.ts): see Reporter.
 */
import type { Readable, Writable } from 'node:stream';
import type { ChalkInstance } from 'chalk';
import type { Ora } from 'ora';
import type { Env } from './config.js';
import { hasUnsafe, quoted, visible } from './domain/visible.js';
import { shown, Styled, type Shown } from './output/text.js';

export interface IO {
  in: Readable;
  out: Writable;
  err: Writable;
  isOutTTY: boolean;
  isErrTTY: boolean;
  /** stdin and stderr are terminals: a question can be asked */
  canPrompt: boolean;
  /** colour on stdout (stdout is a terminal, and colour is not turned off) */
  color: boolean;
  /** colour on stderr (stderr is a terminal, and colour is not turned off) */
  errColor: boolean;
  /** stdout's styles (PLAIN unless `color`) */
  chalk: ChalkInstance;
  /** stderr's styles (PLAIN unless `errColor`): log lines, errors, the confirmation */
  errChalk: ChalkInstance;
}

interface TTYish {
  isTTY?: boolean;
}

/**
 * Styles that style nothing: what chalk at level 0 does (arguments joined with a space), without
 * importing chalk, whose import costs about a fifth of a bare node start (supports-color's
 * probing): a command whose output is piped never pays for colour.
 */
export const PLAIN: ChalkInstance = new Proxy(((...args: unknown[]) => args.join(' ')) as unknown as ChalkInstance, {
  get: (_target, prop) => (prop === 'level' ? 0 : PLAIN),
});

type Streams = { stdin: Readable; stdout: Writable; stderr: Writable };

/** The process's IO: chalk is imported only when a stream gets colour. */
export async function openIO(streams: Streams, env: Env, opts: { noColor?: boolean } = {}): Promise<IO> {
  const io = makeIO(streams, env, opts);
  if (io.color || io.errColor) {
    const { Chalk } = await import('chalk');
    if (io.color) io.chalk = new Chalk({ level: 1 });
    if (io.errColor) io.errChalk = new Chalk({ level: 1 });
  }
  return io;
}

/** IO without colour styles (PLAIN until openIO gives a coloured stream chalk's; tests pass NO_COLOR). */
export function makeIO(streams: Streams, env: Env, opts: { noColor?: boolean } = {}): IO {
  const isOutTTY = (streams.stdout as TTYish).isTTY === true;
  const isErrTTY = (streams.stderr as TTYish).isTTY === true;
  const allowed = !('NO_COLOR' in env) && env.TERM !== 'dumb' && !opts.noColor;
  return {
    in: streams.stdin,
    out: streams.stdout,
    err: streams.stderr,
    isOutTTY,
    isErrTTY,
    canPrompt: (streams.stdin as TTYish).isTTY === true && isErrTTY,
    color: isOutTTY && allowed,
    errColor: isErrTTY && allowed,
    chalk: PLAIN,
    errChalk: PLAIN,
  };
}

/** Shell status of a command whose stdout reader went away (128 + SIGPIPE), as kubectl and gh end. */
export const CLOSED_STDOUT_EXIT = 141;

/**
 * Watches a stream for its reader going away (`custctl customers list | head -1`): EPIPE ends
 * nothing by itself, later writes are dropped quietly, and `closed()` tells the caller to end
 * with CLOSED_STDOUT_EXIT instead of a stack trace.
 */
export function watchClosedPipe(stream: Writable): { closed: () => boolean } {
  let closed = false;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED' || e.code === 'ECONNRESET') {
      closed = true;
      return;
    }
    throw e;
  });
  return { closed: () => closed };
}

export type Level = 'info' | 'warn' | 'error' | 'ok' | 'debug';

export interface Logger {
  /** a line of a job's own progress: quieter than `info` where the caller asks (see Reporter.step) */
  step?(level: Level, message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  ok(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/**
 * `k=v k=v`: a value with a blank, a quote or a character that `visible` escapes is quoted (JSON's
 * quoting, see `quoted`), so a field can neither end the line nor carry an escape sequence.
 */
export function formatFields(fields?: Record<string, unknown>): string {
  if (!fields) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
    parts.push(`${visible(k)}=${/[\s"]/.test(s) || hasUnsafe(s) ? quoted(s) : s}`);
  }
  return parts.join(' ');
}

/** One log line without colour: `LEVEL message  k=v k=v` (what goes into job logs too). */
export function plainLine(level: Level, message: string, fields?: Record<string, unknown>): string {
  const f = formatFields(fields);
  return `${level.toUpperCase().padEnd(5)} ${message}${f ? `  ${f}` : ''}`;
}

/**
 * Writes log lines to stderr. On a TTY lines are coloured and short (`HH:MM:SS`), and a live
 * status line (the spinner) is kept below them; elsewhere each line carries an ISO timestamp.
 * Messages and field values are made visible (src/domain/visible.ts): a log line is one line, and
 * no value in it reaches the terminal as a control character. `line` writes Styled text as it is.
 *
 * Step lines (the pipeline's log of a job, relayed as it runs) are shown unless `quietSteps` is on
 * (a run over several customers: one line per customer), then only with -v; errors always.
 */
export class Reporter implements Logger {
  private spinner: Ora | null = null;
  private stepsQuiet = false;

  constructor(
    private readonly io: IO,
    private readonly now: () => Date,
    private readonly verbose: () => boolean = () => false,
  ) {}

  info(message: string, fields?: Record<string, unknown>): void {
    this.write('info', message, fields);
  }
  ok(message: string, fields?: Record<string, unknown>): void {
    this.write('ok', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.write('warn', message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.write('error', message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    if (this.verbose()) this.write('debug', message, fields);
  }

  /** A line of a job's own progress (see the class comment): at `level`, or debug while steps are quiet. */
  step(level: Level, message: string, fields?: Record<string, unknown>): void {
    if (this.stepsQuiet && level !== 'error') this.debug(message, fields);
    else this.write(level, message, fields);
  }

  /** Step lines only with -v (on), or shown again (off). */
  quietSteps(on: boolean): void {
    this.stepsQuiet = on;
  }

  /** True while step lines are shown only with -v. */
  get stepsAreQuiet(): boolean {
    return this.stepsQuiet;
  }

  /** A line on stderr, kept above the spinner: Styled text as it is, a plain string made visible (one line). */
  line(text: Shown): void {
    this.clearStatus();
    this.io.err.write(`${shown(text)}\n`);
    this.drawStatus();
  }

  /** A step line already formatted (a followed job's log line): made visible; quiet like `step`. */
  stepLine(text: string): void {
    if (!this.stepsQuiet || this.verbose()) this.line(text);
  }

  write(level: Level, message: string, fields?: Record<string, unknown>): void {
    const c = this.io.errChalk;
    if (this.io.isErrTTY) {
      const t = this.now().toTimeString().slice(0, 8);
      const tag = { info: c.cyan('INFO '), ok: c.green('OK   '), warn: c.yellow('WARN '), error: c.red('ERROR'), debug: c.gray('DEBUG') }[level];
      const f = formatFields(fields);
      this.line(new Styled(`${c.gray(t)} ${tag} ${visible(message)}${f ? `  ${c.gray(f)}` : ''}`));
    } else {
      this.line(new Styled(`${this.now().toISOString()} ${plainLine(level, visible(message), fields)}`));
    }
  }

  /** Loads ora (only on a TTY, only in commands that show progress). */
  async enableSpinner(): Promise<void> {
    if (!this.io.isErrTTY || this.spinner) return;
    const { default: ora } = await import('ora');
    this.spinner = ora({ stream: this.io.err, isEnabled: true, color: 'cyan', discardStdin: false });
  }

  /** Shows or replaces the live status line (a spinner, on a TTY only); null hides it. */
  setStatus(text: string | null): void {
    if (!this.spinner) return;
    if (text === null) {
      this.spinner.stop();
      return;
    }
    this.spinner.text = visible(text);
    if (!this.spinner.isSpinning) this.spinner.start();
  }

  private clearStatus(): void {
    if (this.spinner?.isSpinning) this.spinner.clear();
  }

  private drawStatus(): void {
    if (this.spinner?.isSpinning) this.spinner.render();
  }
}
