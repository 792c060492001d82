import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PLAIN, openIO } from '../../src/io.js';

function streams(tty: boolean) {
  const s = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  if (tty) for (const x of Object.values(s)) Object.assign(x, { isTTY: true });
  return s;
}

describe('colour', () => {
  it('PLAIN styles nothing, as chalk at level 0', () => {
    expect(PLAIN.red.bold('a', 'b')).toBe('a b');
    expect(PLAIN.gray(`x ${PLAIN.green('y')}`)).toBe('x y');
    expect(PLAIN.level).toBe(0);
  });

  it('on a terminal the styles are chalk\'s; piped, NO_COLOR, TERM=dumb or --no-color: plain', async () => {
    const tty = await openIO(streams(true), {});
    expect(tty.color).toBe(true);
    expect(tty.chalk.red('x')).toBe('\u001b[31mx\u001b[39m');
    for (const [s, env, noColor] of [[streams(false), {}, false], [streams(true), { NO_COLOR: '' }, false], [streams(true), { TERM: 'dumb' }, false], [streams(true), {}, true]] as const) {
      const io = await openIO(s, env, { noColor });
      expect(io.color).toBe(false);
      expect(io.chalk).toBe(PLAIN);
    }
  });
});
