import { describe, expect, it } from 'vitest';
import { Pacer, paceText } from '../../src/domain/pacing.js';
import { runPaced } from '../../src/util/pool.js';

describe('the pace of a bulk run', () => {
  it('429s lower the concurrency to 3/4 (a burst counts once), quiet raises it back step by step', () => {
    const p = new Pacer(32);
    let t = 0;
    expect(p.limit(t)).toBe(32);
    p.throttled(t);
    p.throttled(t + 100);
    p.throttled(t + 200);
    expect(p.limit(t + 300)).toBe(24);
    t = 4_000;
    p.throttled(t);
    expect(p.limit(t)).toBe(18);
    t += 4_000;
    expect(p.limit(t)).toBe(18); // not quiet long enough
    t += 1_000;
    expect(p.limit(t)).toBe(22); // +ceil((32-18)/4)
    t += 1_000;
    expect(p.limit(t)).toBe(22);
    for (let i = 0; i < 10; i++) { t += 5_000; p.limit(t); }
    expect(p.limit(t)).toBe(32);
    expect(p.summary()).toEqual({ max: 32, lowest: 18, final: 32, reasons: ['429s'] });
    expect(paceText(p.summary()!)).toBe('paced to 18 after 429s (32 at the end, of the 32 asked for)');
  });

  it('namespaces suddenly three times slower than before lower it too (a queue that grows slowly does not); never below 1', () => {
    const p = new Pacer(4);
    // a bulk run's waits grow as the controller's workers queue the namespaces: no drop
    for (const ms of [5000, 5200, 6000, 7000, 8000, 9000, 10_000, 11_000, 12_000, 13_000, 14_000, 15_000]) p.namespaceWaited(ms, 0);
    expect(p.limit(0)).toBe(4);
    expect(p.summary()).toBeNull();
    // then the controller gets stuck (an aggregated API down): 45 s each
    for (let i = 0; i < 5; i++) p.namespaceWaited(45_000, 0);
    expect(p.limit(0)).toBe(3);
    for (let t = 10_000; t < 40_000; t += 3_500) p.throttled(t);
    expect(p.limit(40_000)).toBe(1);
    expect(p.summary()?.reasons).toEqual(['namespace controller falling behind', '429s']);
  });

  it('an untroubled run says nothing', () => {
    const p = new Pacer(8);
    for (const ms of [5000, 5000, 5000, 5000, 5000, 6000, 7000, 8000, 9000, 9000, 10_000]) p.namespaceWaited(ms, 0);
    expect(p.summary()).toBeNull();
  });
});

describe('runPaced', () => {
  it('starts no more than the limit asked at each start, keeps the order', async () => {
    let limit = 4;
    let running = 0;
    const peaks: number[] = [];
    const out = await runPaced(Array.from({ length: 20 }, (_, i) => i), () => limit, async (i) => {
      running += 1;
      peaks.push(running);
      if (i === 5) limit = 2;
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return i * 2;
    });
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(Math.max(...peaks.slice(0, 6))).toBeLessThanOrEqual(4);
    expect(Math.max(...peaks.slice(10))).toBeLessThanOrEqual(2);
  });

  it('rejects with the first failure', async () => {
    await expect(runPaced([1, 2, 3], () => 2, async (i) => { if (i === 2) throw new Error('boom'); return i; })).rejects.toThrow('boom');
  });
});
