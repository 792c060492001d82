/** `p`, or a rejection `<what>: no answer within Ns` (`what` empty: no prefix) once `ms` have passed; the timer never holds the process. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what ? `${what}: ` : ''}no answer within ${ms / 1000}s`)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
