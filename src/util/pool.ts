/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function runPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * `runPool` whose limit may change while it runs (`limit()` is asked before each start): a lowered
 * limit lets the running ones finish and starts no new one until fewer run; a raised one starts
 * more at once. Results keep the input order.
 */
export async function runPaced<T, R>(items: readonly T[], limit: () => number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let running = 0;
  let ticker: NodeJS.Timeout | undefined;
  return new Promise<R[]>((resolve, reject) => {
    let failed = false;
    const pump = (): void => {
      if (failed) return;
      // asked at every turn, also once all have started: the caller may be observing through it
      const now = Math.max(1, limit());
      if (next >= items.length && running === 0) return resolve(results);
      while (next < items.length && running < now) {
        const i = next++;
        running += 1;
        fn(items[i] as T, i).then((r) => {
          results[i] = r;
          running -= 1;
          pump();
        }, (e: unknown) => {
          failed = true;
          reject(e);
        });
      }
      // lowered below what runs: the next finish pumps again; a raise is seen then too
      if (running === 0 && next < items.length) setTimeout(pump, 100);
    };
    // a raised limit starts more without waiting for a finish
    ticker = setInterval(pump, 1000);
    ticker.unref();
    pump();
  }).finally(() => clearInterval(ticker));
}

/** DESIGN: 0 when all succeeded, the shared code when all failures share one, else 1. */
export function combinedExitCode(codes: readonly number[]): number {
  const failures = [...new Set(codes.filter((c) => c !== 0))];
  if (failures.length === 0) return 0;
  return failures.length === 1 ? (failures[0] as number) : 1;
}
