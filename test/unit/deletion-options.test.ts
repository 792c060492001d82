// One DeletionOptions, one converter each way (src/domain/deletion-options.ts): flags -> options
// (commands/delete.ts fromFlags), options <-> the queue API's query (the remote client, the server).
import { describe, expect, it } from 'vitest';
import { deletionOptionsOf, fromQuery, toQuery, type DeletionOptions } from '../../src/domain/deletion-options.js';
import { fromFlags } from '../../src/commands/delete.js';
import { UsageError } from '../../src/errors.js';

/** What a URL's query string carries: every value a string, unset ones left out. */
function asSent(q: Record<string, string | number | boolean | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
}

describe('DeletionOptions <-> query', () => {
  it('what travels comes back as it was (round trip)', () => {
    const o: DeletionOptions = { force: true, allowMissing: true, allowClusterScoped: true, waitTimeoutMs: 300_000, jobTimeoutMs: 600_000, afterMs: 7 * 86_400_000, helmUninstall: 'always' };
    expect(fromQuery(asSent(toQuery(o)))).toEqual(o);
    expect(fromQuery(asSent(toQuery({ afterMs: 0 })))).toEqual({ afterMs: 0 });
    expect(fromQuery(asSent(toQuery({})))).toEqual({});
  });

  it('false flags and the local-only options (backup, snapshots) do not travel', () => {
    expect(asSent(toQuery({ force: false, backupUrl: 'file:///b', noBackup: true, snapshotClass: 'c', backupRecipients: ['age1x'] }))).toEqual({});
  });

  it('a malformed parameter is a usage error, before anything happens', () => {
    expect(() => fromQuery({ force: 'yes' })).toThrow(UsageError);
    expect(() => fromQuery({ timeoutMs: '-1' })).toThrow(/positive number of milliseconds/);
    expect(() => fromQuery({ helmUninstall: 'sometimes' })).toThrow(/'auto' or 'always'/);
    expect(() => fromQuery({ after: 'soon' })).toThrow(UsageError);
  });
});

describe('flags -> run -> options', () => {
  it('fromFlags maps every flag once; deletionOptionsOf keeps the deletion options only', () => {
    const run = fromFlags(['cust_a'], {
      yes: true, concurrency: 4, timeout: 300_000, jobTimeout: 60_000, after: 0, force: true, allowOutsideNamespace: true,
      backup: false, snapshotVolumes: 'csi', snapshotTimeout: 1000, backupRecipient: ['age1x'], helmUninstall: 'auto',
    });
    expect(run).toEqual({
      ids: ['cust_a'], yes: true, dryRun: false, detach: false, sync: false, concurrency: 4, waitTimeoutMs: 300_000, jobTimeoutMs: 60_000, afterMs: 0,
      force: true, allowMissing: false, allowClusterScoped: true, noBackup: true, snapshotClass: 'csi', snapshotTimeoutMs: 1000, backupRecipients: ['age1x'], helmUninstall: 'auto',
    });
    expect(deletionOptionsOf(run)).toEqual({
      waitTimeoutMs: 300_000, jobTimeoutMs: 60_000, afterMs: 0, force: true, allowClusterScoped: true, noBackup: true, snapshotClass: 'csi', snapshotTimeoutMs: 1000, backupRecipients: ['age1x'], helmUninstall: 'auto',
    });
    expect(fromFlags(['cust_a'], { concurrency: 1, timeout: 5 , backup: 'file:///b', snapshotVolumes: false })).toMatchObject({ backupUrl: 'file:///b', noSnapshotVolumes: true });
  });
});
