/**
 * The erasure's and the export's site policies and small rules: which objects of a target are a
 * customer's, the export encryption policy, the configuration's parsing, which customers the
 * automatic erasure picks, and a job's certificate as the edges read it.
 */
import { describe, expect, it } from 'vitest';
import { isCustomerObject } from '../../src/adapters/backup-target.js';
import type { CustomerRow, CustomerStore } from '../../src/adapters/store.js';
import { buildConfig } from '../../src/config.js';
import { exportEncryptionRefusal } from '../../src/domain/export.js';
import type { Job } from '../../src/domain/job.js';
import { UsageError } from '../../src/errors.js';
import { dueForErasure } from '../../src/jobs/erase.js';
import { certificateOfJob, jobCertificate } from '../../src/jobs/certificate-of-job.js';

describe('isCustomerObject', () => {
  it('takes the backups, sums files and exports of exactly that customer', () => {
    expect(isCustomerObject('cust_ab-20260101T000000Z.tar.gz', 'cust_ab')).toBe(true);
    expect(isCustomerObject('cust_ab-20260101T000000Z.tar.gz.age.sums.json', 'cust_ab')).toBe(true);
    expect(isCustomerObject('cust_ab-export-20260101T000000Z.tar.gz.age', 'cust_ab')).toBe(true);
    expect(isCustomerObject('cust_abc-20260101T000000Z.tar.gz', 'cust_ab')).toBe(false);
    expect(isCustomerObject('x/cust_ab-20260101T000000Z.tar.gz', 'cust_ab')).toBe(false);
    expect(isCustomerObject('cust_ab-1', 'not-an-id')).toBe(false);
  });
});

describe('exportEncryptionRefusal', () => {
  it('refuses only a clear-text export where the site requires encryption, saying how to encrypt', () => {
    expect(exportEncryptionRefusal(false, 'none')).toBeNull();
    expect(exportEncryptionRefusal(true, 'recipients')).toBeNull();
    expect(exportEncryptionRefusal(true, 'passphrase')).toBeNull();
    const r = exportEncryptionRefusal(true, 'none');
    expect(r?.message).toMatch(/requires exports to be encrypted/);
    expect(r?.next).toMatch(/--recipient .*--passphrase-file/);
  });
});

describe('configuration', () => {
  const cfg = (env: Record<string, string>) => buildConfig(env, {});
  it('defaults: no automatic erasure, no extra targets, export encryption optional, no export required', () => {
    expect(cfg({})).toMatchObject({ eraseAfterMs: 0, eraseTargets: [], exportEncryptionRequired: false, deleteRequiresExport: false });
  });
  it('reads CUSTCTL_ERASE_AFTER, CUSTCTL_ERASE_TARGETS, CUSTCTL_EXPORT_ENCRYPTION and CUSTCTL_DELETE_REQUIRES_EXPORT', () => {
    expect(cfg({ CUSTCTL_ERASE_AFTER: '30d', CUSTCTL_ERASE_TARGETS: 'file:///var/exports, s3://bucket/p', CUSTCTL_EXPORT_ENCRYPTION: 'required', CUSTCTL_DELETE_REQUIRES_EXPORT: 'true' }))
      .toMatchObject({ eraseAfterMs: 30 * 86_400_000, eraseTargets: ['file:///var/exports', 's3://bucket/p'], exportEncryptionRequired: true, deleteRequiresExport: true });
  });
  it('refuses what it cannot read (exit 2)', () => {
    expect(() => cfg({ CUSTCTL_ERASE_AFTER: '500d' })).toThrow(UsageError);
    expect(() => cfg({ CUSTCTL_ERASE_TARGETS: 'ftp://x' })).toThrow(UsageError);
    expect(() => cfg({ CUSTCTL_EXPORT_ENCRYPTION: 'yes' })).toThrow(/'optional' or 'required'/);
    expect(() => cfg({ CUSTCTL_DELETE_REQUIRES_EXPORT: '1' })).toThrow(/'false' or 'true'/);
  });
});

describe('dueForErasure', () => {
  const row = (id: string, o: Partial<CustomerRow>): CustomerRow => ({
    id: 1, customerId: id, email: 'a@b.test', companyName: 'Acme', deploymentStatus: 'pending', instanceNamespace: '', instanceUrl: '',
    deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: '', updatedAt: '', ...o,
  });
  const now = Date.parse('2026-12-07T00:00:00Z');
  const store = (rows: CustomerRow[]) => ({ list: async () => rows }) as unknown as CustomerStore;
  it('picks pending rows deleted longer ago than the period that still hold a personal field', async () => {
    const rows = [
      row('cust_old', { deletedAt: '2026-11-01T00:00:00Z' }),
      row('cust_recent', { deletedAt: '2026-12-06T00:00:00Z' }),
      row('cust_erased', { deletedAt: '2026-11-01T00:00:00Z', email: '', companyName: '' }),
      row('cust_never', {}),
      row('cust_live', { deletedAt: '2026-11-01T00:00:00Z', deploymentStatus: 'deployed' }),
      row('cust_again', { deletedAt: '2026-11-01T00:00:00Z', deploymentStatus: 'deleting' }),
    ];
    expect(await dueForErasure(store(rows), 30 * 86_400_000, now)).toEqual(['cust_old']);
    expect(await dueForErasure(store(rows), 0, now)).toEqual([]);
  });
});

describe('a job\'s certificate', () => {
  const job = (o: Partial<Job>): Job => ({ id: '7', name: 'delete', state: 'completed', simulated: false, returnvalue: null, ...o }) as unknown as Job;
  it('is the result\'s certificate field; none says why (exit 3)', () => {
    expect(certificateOfJob(job({}))).toBeNull();
    expect(() => jobCertificate(job({}))).toThrow(/no certificate: the site had no signing key/);
    expect(() => jobCertificate(job({ state: 'active' }))).toThrow(/is active/);
    expect(() => jobCertificate(job({ simulated: true }))).toThrow(/simulated/);
    expect(() => jobCertificate(job({ name: 'restore' }))).toThrow(/only a hard deletion/);
    expect(() => certificateOfJob(job({ returnvalue: { certificate: { signature: 1 } } }))).toThrow();
  });
});
