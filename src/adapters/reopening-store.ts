import type { AuditVerifyReport, ChainHead } from '../domain/audit-chain.js';
import type { AuditEntry, AuditFilter, AuditPosition, AuditRecord, ClaimResult, EraseResult, CustomerRow, CustomerStore, NewCustomer, TableCheck } from './store.js';

/**
 * A store that opens on first use and again after a failed open: `serve` starts (and says it is
 * not ready) while the database is down, and recovers when it comes back.
 */
export class ReopeningStore implements CustomerStore {
  private current: Promise<CustomerStore> | null = null;
  private opened: CustomerStore | null = null;

  constructor(
    private readonly open: () => Promise<CustomerStore>,
    private readonly fallbackDescription: string,
    readonly kind: CustomerStore['kind'],
  ) {}

  get description(): string {
    return this.opened?.description ?? this.fallbackDescription;
  }

  private async s(): Promise<CustomerStore> {
    this.current ??= this.open().then(
      (s) => (this.opened = s),
      (e: unknown) => {
        this.current = null;
        throw e;
      },
    );
    return this.current;
  }

  async get(customerId: string): Promise<CustomerRow | null> {
    return (await this.s()).get(customerId);
  }
  async column(customerId: string, column: string): Promise<string | null> {
    const s = await this.s();
    return s.column ? s.column(customerId, column) : null;
  }
  async list(): Promise<CustomerRow[]> {
    return (await this.s()).list();
  }
  async add(row: NewCustomer, audit?: AuditEntry): Promise<CustomerRow> {
    return (await this.s()).add(row, audit);
  }
  async claimForDeletion(customerId: string, jobId: string, opts: { force: boolean; expectJobId?: string; audit?: AuditEntry }): Promise<ClaimResult> {
    return (await this.s()).claimForDeletion(customerId, jobId, opts);
  }
  async isOwnedBy(customerId: string, jobId: string): Promise<boolean> {
    return (await this.s()).isOwnedBy(customerId, jobId);
  }
  async completeDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return (await this.s()).completeDeletion(customerId, jobId, audit);
  }
  async completeRestore(customerId: string, namespace: string, url: string, audit?: AuditEntry): Promise<boolean> {
    return (await this.s()).completeRestore(customerId, namespace, url, audit);
  }
  async failDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return (await this.s()).failDeletion(customerId, jobId, audit);
  }
  async releaseDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return (await this.s()).releaseDeletion(customerId, jobId, audit);
  }
  async appendAudit(entry: AuditEntry): Promise<void> {
    return (await this.s()).appendAudit(entry);
  }
  async listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return (await this.s()).listAudit(filter);
  }
  async pruneAudit(before: Date, actor: string, opts?: { allowRecent?: boolean }): Promise<number> {
    return (await this.s()).pruneAudit(before, actor, opts);
  }
  async verifyAudit(opts?: { anchor?: ChainHead }): Promise<AuditVerifyReport> {
    const s = await this.s();
    if (!s.verifyAudit) throw new Error(`${s.description} keeps no hash-chained audit log`);
    return s.verifyAudit(opts);
  }
  async auditPosition(q: { customerId: string; action: AuditEntry['action']; jobId?: string | null }): Promise<AuditPosition | null> {
    const s = await this.s();
    if (!s.auditPosition) throw new Error(`${s.description} keeps no hash-chained audit log`);
    return s.auditPosition(q);
  }
  async auditRowAt(seq: string): Promise<AuditRecord | null> {
    const s = await this.s();
    if (!s.auditRowAt) throw new Error(`${s.description} keeps no hash-chained audit log`);
    return s.auditRowAt(seq);
  }
  async readPersonalFields(customerId: string, columns: readonly string[]): Promise<Record<string, string> | null> {
    const s = await this.s();
    if (!s.readPersonalFields) throw new Error(`${s.description} cannot read a customer's personal fields`);
    return s.readPersonalFields(customerId, columns);
  }
  async erasePersonalFields(customerId: string, columns: readonly string[], audit: Omit<AuditEntry, 'action' | 'deleted'>): Promise<EraseResult> {
    const s = await this.s();
    if (!s.erasePersonalFields) throw new Error(`${s.description} cannot erase a customer's fields`);
    return s.erasePersonalFields(customerId, columns, audit);
  }
  async reviewTable(opts: { tryStatements: boolean }): Promise<TableCheck> {
    const s = await this.s();
    return s.reviewTable ? s.reviewTable(opts) : { problems: [], notes: [], tried: null };
  }
  async checkSchema(): Promise<string[]> {
    return (await this.s()).checkSchema();
  }
  async serverVersion(): Promise<string> {
    const s = await this.s();
    return s.serverVersion ? s.serverVersion() : 'unknown';
  }
  async migrate(): Promise<string[]> {
    return (await this.s()).migrate();
  }
  async ping(): Promise<void> {
    return (await this.s()).ping();
  }
  async close(): Promise<void> {
    const s = this.opened;
    this.opened = null;
    this.current = null;
    if (s) await s.close();
  }
}
