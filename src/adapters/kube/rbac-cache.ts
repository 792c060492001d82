/**
 * The cluster's ClusterRoles and ClusterRoleBindings for every deletion of a process: one paged
 * listing, shared, and — from the second time the process reads them (a bulk run, `serve`,
 * `worker`, a cleanup-rbac sweep after its plan), or when told that several deletions will —
 * kept current by a watch of each kind from the listing's resourceVersion, instead of a listing
 * of every object per customer (100 customers listed 10,000 objects 200 times). A single
 * deletion lists once and watches nothing.
 *
 * Freshness: a one-shot listing answers the calls made while it is in flight (as before); a
 * followed listing answers with what the watch has delivered (milliseconds behind the API
 * server). Either way an object created in the last moment before a deletion looks is missed and
 * left for `cleanup-rbac` (never deleted by mistake: a deletion only deletes what it saw, and a
 * vanished object answers 404). A watch the server ends is resumed from the last resourceVersion;
 * one too old (410) lists again; a watch that is refused (403) falls back to listing per call.
 */
import { backoffMs } from '../retry.js';
import { raceSignal } from '../../util/race-signal.js';
import { RbacIndex } from '../../domain/rbac-index.js';
import type { RbacKind, RbacObject } from '../../domain/rbac-owner.js';

export interface RbacListing {
  objects: RbacObject[];
  resourceVersion: string | undefined;
}

export type RbacWatchEvent =
  /** the server answered: the events since the resourceVersion follow at once */
  | { type: 'CONNECTED' }
  | { type: 'ADDED' | 'MODIFIED'; object: RbacObject; resourceVersion?: string }
  | { type: 'DELETED'; object: RbacObject; resourceVersion?: string }
  | { type: 'BOOKMARK'; resourceVersion?: string }
  | { type: 'ERROR'; code?: number };

export interface RbacSource {
  /** One kind, every page, slimmed (src/domain/rbac-index.ts). */
  list(kind: RbacKind, signal?: AbortSignal): Promise<RbacListing>;
  /**
   * One watch request from `resourceVersion`; resolves when it ends: null (the server closed it),
   * or the HTTP status / error it failed with. Its connection must not keep the process alive.
   */
  watch(kind: RbacKind, resourceVersion: string, signal: AbortSignal, onEvent: (e: RbacWatchEvent) => void): Promise<{ status?: number; error?: unknown } | null>;
}

export interface RbacCache {
  /** The index as of now (see freshness above). */
  index(signal?: AbortSignal): Promise<RbacIndex>;
  /** Several deletions will read it: keep the next listing current with watches. */
  follow(): void;
  /** the watches run */
  readonly following: boolean;
  /** This process deleted it (or found it gone): forgotten now, not when the watch says so. */
  forget(kind: RbacKind, name: string): void;
  /** Stops the watches. */
  close(): void;
  /** listings sent (tests, the bench) */
  readonly listings: number;
}

const KINDS: readonly RbacKind[] = ['ClusterRole', 'ClusterRoleBinding'];
const WATCH_BACKOFF = { baseMs: 500, maxMs: 10_000 };
/** A listing this young is followed from where it is; an older one is listed again first. */
const REUSE_MS = 10_000;
/** How long a reader waits for the watches to answer before it reads a followed listing. */
const CONNECT_WAIT_MS = 2_000;

type Listing = { index: RbacIndex; rv: Map<RbacKind, string | undefined>; at: number };

export function makeRbacCache(src: RbacSource, o: { onWatchProblem?: (kind: RbacKind, why: string) => void; now?: () => number } = {}): RbacCache {
  const now = o.now ?? Date.now;
  let listings = 0;
  let inFlight: Promise<Listing> | null = null;
  /** the followed index, once its watches run */
  let followed: Listing | null = null;
  /** the last one-shot listing: follow() starts from it */
  let last: Listing | null = null;
  let wantFollow = false;
  /** a watch was refused (403): every read lists again */
  let refused = false;
  let stopped = false;
  const controller = new AbortController();

  async function listAll(signal?: AbortSignal): Promise<Listing> {
    listings += 1;
    // both kinds at once; a failure reported in a fixed order (roles first)
    const settled = await Promise.allSettled(KINDS.map((k) => src.list(k, signal)));
    const rv = new Map<RbacKind, string | undefined>();
    const index = new RbacIndex();
    for (const [i, s] of settled.entries()) {
      if (s.status === 'rejected') throw s.reason;
      for (const obj of s.value.objects) index.put(obj);
      rv.set(KINDS[i] as RbacKind, s.value.resourceVersion);
    }
    return { index, rv, at: now() };
  }

  function shared(signal?: AbortSignal): Promise<Listing> {
    if (!inFlight) {
      // not tied to one caller's signal: callers stop waiting on their own
      const p = listAll();
      inFlight = p;
      const clear = () => { if (inFlight === p) inFlight = null; };
      p.then((l) => {
        clear();
        last = l;
        if (wantFollow && !followed && !stopped && !refused) void start(l);
      }, clear);
    }
    return raceSignal(inFlight, signal);
  }

  /** Starts the watches; resolves once both answered (their backlog follows at once), failed, or CONNECT_WAIT_MS passed. */
  function start(l: Listing): Promise<void> {
    if (KINDS.some((k) => !l.rv.get(k))) return Promise.resolve(); // a server that gave no resourceVersion cannot be watched
    followed = l;
    const connected = KINDS.map((k) => new Promise<void>((resolve) => {
      const t = setTimeout(resolve, CONNECT_WAIT_MS);
      t.unref();
      void run(k, () => { clearTimeout(t); resolve(); });
    }));
    // the events written right after the answer are read before anyone reads the index
    return Promise.all(connected).then(() => new Promise((r) => setImmediate(r)));
  }

  /** One kind's watch loop: resume from the last resourceVersion, list again when it is too old (410), give up on a refusal. */
  async function run(kind: RbacKind, onFirstAnswer: () => void = () => undefined): Promise<void> {
    let failures = 0;
    let answered = onFirstAnswer;
    const firstAnswer = (): void => { answered(); answered = () => undefined; };
    const pause = async (why: string): Promise<void> => {
      failures += 1;
      o.onWatchProblem?.(kind, why);
      await new Promise((res) => { const t = setTimeout(res, backoffMs(failures, WATCH_BACKOFF)); t.unref(); });
    };
    while (!stopped && followed) {
      const f = followed;
      const from = f.rv.get(kind);
      if (!from) {
        try {
          const again = await src.list(kind, controller.signal);
          listings += 1;
          f.index.replaceKind(kind, again.objects);
          f.rv.set(kind, again.resourceVersion);
          failures = 0;
          if (!again.resourceVersion) break;
        } catch (error) {
          if (stopped) return;
          await pause(`listing again failed (${String(error)}); trying again`);
        }
        continue;
      }
      const r = await src.watch(kind, from, controller.signal, (e) => {
        if (e.type === 'CONNECTED') return firstAnswer();
        if (e.type === 'ADDED' || e.type === 'MODIFIED') f.index.put(e.object);
        else if (e.type === 'DELETED') f.index.remove(e.object.kind, e.object.name);
        if (e.type === 'ERROR') { if (e.code === 410) f.rv.set(kind, undefined); } else if (e.resourceVersion) f.rv.set(kind, e.resourceVersion);
      }).catch((error: unknown): { status?: number; error?: unknown } => ({ error }));
      firstAnswer();
      if (stopped) return;
      if (r === null) { failures = 0; continue; } // the server ended it (timeoutSeconds): resume from the last version
      if (r.status === 410) { f.rv.set(kind, undefined); continue; }
      if (r.status !== undefined && r.status >= 400 && r.status < 500 && r.status !== 429) {
        o.onWatchProblem?.(kind, `watch refused (HTTP ${r.status}): listing per deletion instead`);
        break;
      }
      await pause(`watch failed (${r.status !== undefined ? `HTTP ${r.status}` : String(r.error)}); resuming`);
    }
    // refused, or a server that gives no resourceVersion: every call lists again
    if (!stopped) { followed = null; wantFollow = false; refused = true; }
  }

  return {
    get listings() {
      return listings;
    },
    get following() {
      return followed !== null;
    },
    async index(signal) {
      if (followed) return followed.index;
      if (last && !stopped && !refused) {
        // read a second time: from now on one listing, followed
        wantFollow = true;
        if (!inFlight && now() - last.at <= REUSE_MS) {
          await start(last);
          if (followed) return last.index;
        }
      }
      return (await shared(signal)).index;
    },
    follow() {
      wantFollow = true;
    },
    forget(kind, name) {
      followed?.index.remove(kind, name);
      last?.index.remove(kind, name);
    },
    close() {
      stopped = true;
      controller.abort();
    },
  };
}
