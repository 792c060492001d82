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

/** DESIGN: 0 when all succeeded, the shared code when all failures share one, else 1. */
export function combinedExitCode(codes: readonly number[]): number {
  const failures = [...new Set(codes.filter((c) => c !== 0))];
  if (failures.length === 0) return 0;
  return failures.length === 1 ? (failures[0] as number) : 1;
}
