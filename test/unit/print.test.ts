import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { OUTPUT_FORMATS, print, view } from '../../src/output/print.js';
import { bufferIO } from '../support/buffer-io.js';

describe('print(io, format, view)', () => {
  const data = { id: '7', when: new Date(0), nested: { list: [1, 'two', null], dropped: undefined }, multi: 'a\nb' };

  it('json and yaml carry the same fields (undefined dropped, dates as strings); table is the human view', async () => {
    const outs: Record<string, string> = {};
    for (const f of OUTPUT_FORMATS) {
      const b = bufferIO();
      await print(b.io, f, view(data, (io) => void io.out.write('HUMAN\n')));
      outs[f] = b.out();
    }
    expect(outs.table).toBe('HUMAN\n');
    expect(parse(outs.yaml as string)).toEqual(JSON.parse(outs.json as string));
    expect(outs.yaml).not.toMatch(/dropped/);
    expect(outs.yaml).not.toMatch(/\u001b\[/);
  });
});
