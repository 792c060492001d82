/**
 * Runs a command in a real pseudo-terminal, with util-linux's `script` (Debian's bsdutils): the
 * command's stdin, stdout and stderr are the terminal unless the shell line redirects one (e.g.
 * `> out.txt` to see what a piped stdout gets while stderr is a terminal). Keys are typed into the
 * terminal when the screen shows a given text (Ctrl-C is '\x03': the terminal's own byte, which a
 * raw-mode reader such as readline sees as a key).
 */
import { spawn } from 'node:child_process';

export interface PtyRun {
  exitCode: number;
  /** everything the terminal showed (stdout and stderr, unless redirected), with its escape codes */
  screen: string;
}

export interface PtyKey {
  /** typed once the screen contains this */
  when: string | RegExp;
  keys: string;
}

/** `'a b'` for the shell line. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs `shellLine` (sh syntax: redirections allowed) in a pseudo-terminal of `columns` columns. */
export function inPty(shellLine: string, opts: { env?: NodeJS.ProcessEnv; keys?: PtyKey[]; timeoutMs?: number; columns?: number } = {}): Promise<PtyRun> {
  const columns = opts.columns ?? 200;
  // the terminal's size first (script's pty starts at 0x0), then the command
  const line = `stty cols ${columns} rows 50 2>/dev/null; ${shellLine}`;
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-qefc', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { TERM: 'xterm-256color', ...opts.env } });
    let screen = '';
    const pending = [...(opts.keys ?? [])];
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`pty run timed out: ${shellLine}\n${screen}`));
    }, opts.timeoutMs ?? 120_000);
    const onData = (b: Buffer) => {
      screen += b.toString();
      const next = pending[0];
      if (next && (typeof next.when === 'string' ? screen.includes(next.when) : next.when.test(screen))) {
        pending.shift();
        // readline draws the prompt, then reads: give it a moment to be listening
        setTimeout(() => p.stdin.write(next.keys), 200);
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      p.stdin.end();
      resolve({ exitCode: code ?? -1, screen });
    });
  });
}
