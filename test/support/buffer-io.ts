/** An IO over in-memory streams, like gh's iostreams.Test(). */
import { PassThrough } from 'node:stream';
import { makeIO, type IO } from '../../src/io.js';

export function bufferIO(opts: { tty?: boolean } = {}): { io: IO; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  if (opts.tty) for (const s of [stdout, stderr, stdin]) Object.assign(s, { isTTY: true });
  const io = makeIO({ stdin, stdout, stderr }, { NO_COLOR: '1' });
  return { io, out: () => out, err: () => err };
}
