/**
 * Streams, colour and the progress reporter. Results go to `out`, everything else to `err`.
 * A spinner only on a TTY; plain timestamped lines otherwise. NO_COLOR is honoured here
 * (chalk 5 reads only FORCE_COLOR).
 */
import type { Readable, Writable } from 'node:stream';
import type { ChalkInstance } from 'chalk';
import type { Ora } from 'ora';
import type { Env } from './config.js';

export interface IO {
  in: Readable;
  out: Writable;
  err: Writable;
  isOutTTY: boolean;
  isErrTTY: boolean;
  /** stdin and stderr are terminals: a question can be asked */
  canPrompt: boolean;
  /** colour on stderr/stdout */
  color: boolean;
  chalk: ChalkInstance;
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

/** The process's IO: chalk is imported only when colour is on. */
export async function openIO(streams: Streams, env: Env, opts: { noColor?: boolean } = {}): Promise<IO> {
  const io = makeIO(streams, env, opts);
  if (io.color) io.chalk = new (await import('chalk')).Chalk({ level: 1 });
  return io;
}

/** IO without colour styles (`chalk` is PLAIN until openIO gives it chalk's; tests pass NO_COLOR). */
export function makeIO(streams: Streams, env: Env, opts: { noColor?: boolean } = {}): IO {
  const isOutTTY = (streams.stdout as TTYish).isTTY === true;
  const isErrTTY = (streams.stderr as TTYish).isTTY === true;
  const color = (isErrTTY || isOutTTY) && !('NO_COLOR' in env) && env.TERM !== 'dumb' && !opts.noColor;
  return {
    in: streams.stdin,
    out: streams.stdout,
    err: streams.stderr,
    isOutTTY,
    isErrTTY,
    canPrompt: (streams.stdin as TTYish).isTTY === true && isErrTTY,
    color,
    chalk: PLAIN,
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
  info(message: string, fields?: Record<string, unknown>): void;
  ok(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

export function formatFields(fields?: Record<string, unknown>): string {
  if (!fields) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    parts.push(`${k}=${/\s/.test(s) ? JSON.stringify(s) : s}`);
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
 */
export class Reporter implements Logger {
  private spinner: Ora | null = null;

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

  /** A raw line on stderr (already formatted), kept above the spinner. */
  line(text: string): void {
    this.clearStatus();
    this.io.err.write(`${text}\n`);
    this.drawStatus();
  }

  write(level: Level, message: string, fields?: Record<string, unknown>): void {
    const c = this.io.chalk;
    if (this.io.isErrTTY) {
      const t = this.now().toTimeString().slice(0, 8);
      const tag = { info: c.cyan('INFO '), ok: c.green('OK   '), warn: c.yellow('WARN '), error: c.red('ERROR'), debug: c.gray('DEBUG') }[level];
      const f = formatFields(fields);
      this.line(`${c.gray(t)} ${tag} ${message}${f ? `  ${c.gray(f)}` : ''}`);
    } else {
      this.line(`${this.now().toISOString()} ${plainLine(level, message, fields)}`);
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
    this.spinner.text = text;
    if (!this.spinner.isSpinning) this.spinner.start();
  }

  private clearStatus(): void {
    if (this.spinner?.isSpinning) this.spinner.clear();
  }

  private drawStatus(): void {
    if (this.spinner?.isSpinning) this.spinner.render();
  }
}
