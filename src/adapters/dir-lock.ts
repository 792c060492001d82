/**
 * One writer at a time in a journal directory: calls in this process run one after another (a
 * promise chain), and each holds proper-lockfile's lock against other processes while it runs.
 * The file journal and the webhook delivery journal both write this way.
 */
import { OperationError, errorMessage } from '../errors.js';

/** A lock older than this is stale (its holder died): sections last milliseconds. */
const LOCK_STALE_MS = 5_000;

export class DirLock {
  private chain: Promise<unknown> = Promise.resolve();

  /**
   * @param what  how errors name the directory ("the job journal")
   * @param waitMs how long to wait for another process's lock before failing
   */
  constructor(
    private readonly dir: string,
    private readonly lockPath: string,
    private readonly what: string,
    private readonly waitMs: number,
  ) {}

  /** Runs `fn` after the calls before it, holding the cross-process lock. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => this.withFileLock(fn));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every call made so far has ended. */
  async drain(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  private async withFileLock<T>(fn: () => Promise<T>): Promise<T> {
    let release: () => Promise<void>;
    try {
      // loaded on the first write: reading (`status job`) takes no lock and should not pay for it
      const { default: lockfile } = await import('proper-lockfile');
      release = await lockfile.lock(this.dir, {
        lockfilePath: this.lockPath,
        realpath: false,
        stale: LOCK_STALE_MS,
        retries: { retries: 5_000, factor: 1.2, minTimeout: 2, maxTimeout: 50, randomize: true, maxRetryTime: this.waitMs },
        // Our sections last milliseconds; if the event loop stalled past `stale` and another
        // process took the lock, the section's single atomic write still leaves a whole file.
        onCompromised: () => undefined,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new OperationError(`${this.what} ${this.dir} stayed locked for more than ${Math.round(this.waitMs / 1000)} s`, [
          `another custctl is writing to it; if none is running, remove ${this.lockPath}`,
        ]);
      }
      throw new OperationError(`cannot lock ${this.what} ${this.dir}: ${errorMessage(e)}`);
    }
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined);
    }
  }
}
