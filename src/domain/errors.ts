/**
 * Typed errors: every failure a user can see is one of these, and its class decides the exit code.
 * Adapters translate foreign errors (ApiException, execa failures, pg errors) into these at the boundary.
 */

/** 130: stopped by the operator (Ctrl-C), the shell's 128 + SIGINT. */
export type ExitCode = 1 | 2 | 3 | 4 | 5 | 6 | 130;

/** The stable machine-readable names used in JSON errors (`{error, message}`) local and remote. */
export type ErrorName =
  | 'invalid_id'
  | 'invalid_namespace'
  | 'usage'
  | 'not_found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'timeout'
  | 'internal'
  // HTTP-level refusals of the queue API (custctl serve)
  | 'invalid_request'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'request_timeout'
  | 'headers_too_large'
  | 'unavailable'
  | 'too_many_requests';

export abstract class CliError extends Error {
  abstract readonly exitCode: ExitCode;
  abstract readonly errorName: ErrorName;
  /** Extra lines shown under the message (a diagnosis, a hint). */
  readonly details: readonly string[];
  /**
   * Retrying cannot help (helm missing, 403 forbidden, a bad kubeconfig or context, an API the
   * server does not serve): no request retry, no further attempt of the job. Usage errors always are.
   */
  readonly permanent: boolean;

  constructor(message: string, details: readonly string[] = [], options?: { cause?: unknown; permanent?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = details;
    this.permanent = options?.permanent ?? false;
  }
}

/** A failure that no retry and no further attempt can fix (see CliError.permanent). */
export function isPermanent(e: unknown): boolean {
  return e instanceof CliError && (e.permanent || e.exitCode === 2);
}

/** Bad usage or input (exit 2). */
export class UsageError extends CliError {
  readonly exitCode = 2;
  readonly errorName: ErrorName = 'usage';
}

/** The operator stopped a question with Ctrl-C (exit 130, as a shell reports an interrupt); nothing was changed. */
export class InterruptedError extends CliError {
  readonly exitCode = 130;
  readonly errorName: ErrorName = 'usage';
}

/** A customer ID that is not `cust_<key>` (exit 2). */
export class InvalidIdError extends UsageError {
  override readonly errorName: ErrorName = 'invalid_id';
}

/** A namespace that custctl refuses to touch (exit 2). */
export class InvalidNamespaceError extends UsageError {
  override readonly errorName: ErrorName = 'invalid_namespace';
}

/** The customer, job or object does not exist, or looks like the wrong cluster (exit 3). */
export class NotFoundError extends CliError {
  readonly exitCode = 3;
  readonly errorName: ErrorName = 'not_found';
}

/** Already being deleted, deploying, or owned by another job (exit 4). */
export class ConflictError extends CliError {
  readonly exitCode = 4;
  readonly errorName: ErrorName = 'conflict';
}

/** The last attempt timed out waiting for the namespace to go (exit 5). */
export class WaitTimeoutError extends CliError {
  readonly exitCode = 5;
  readonly errorName: ErrorName = 'timeout';
}

/** The operation failed (exit 1): a cluster, Helm or database error. */
export class OperationError extends CliError {
  readonly exitCode = 1;
  readonly errorName: ErrorName = 'internal';
}

/**
 * The backup before a deletion could not be written, read back or verified (exit 1). It comes
 * before anything is deleted: the row is handed back unchanged and no further attempt is made.
 */
export class BackupError extends OperationError {
  constructor(message: string, details: readonly string[] = [], options?: { cause?: unknown }) {
    super(message, details, { ...options, permanent: true });
  }
}

export class UnauthorizedError extends CliError {
  readonly exitCode = 1;
  readonly errorName: ErrorName = 'unauthorized';
}

export class ForbiddenError extends CliError {
  readonly exitCode = 1;
  readonly errorName: ErrorName = 'forbidden';
}

/** The server could not be reached or did not answer like custctl serve (a run-wide failure). */
export class TransportError extends OperationError {}

/**
 * The one table of error names: the exit code the CLI uses, the HTTP status the API answers, and
 * the typed error a JSON `{error, message}` (an API answer, a stored job failure) is rebuilt as.
 */
export const ERROR_NAMES: Readonly<Record<ErrorName, { exitCode: ExitCode; httpStatus: number; make: (message: string, details: readonly string[]) => CliError }>> = {
  invalid_id: { exitCode: 2, httpStatus: 400, make: (m, d) => new InvalidIdError(m, d) },
  invalid_namespace: { exitCode: 2, httpStatus: 400, make: (m, d) => new InvalidNamespaceError(m, d) },
  usage: { exitCode: 2, httpStatus: 400, make: (m, d) => new UsageError(m, d) },
  not_found: { exitCode: 3, httpStatus: 404, make: (m, d) => new NotFoundError(m, d) },
  conflict: { exitCode: 4, httpStatus: 409, make: (m, d) => new ConflictError(m, d) },
  unauthorized: { exitCode: 1, httpStatus: 401, make: (m, d) => new UnauthorizedError(m, d) },
  forbidden: { exitCode: 1, httpStatus: 403, make: (m, d) => new ForbiddenError(m, d) },
  timeout: { exitCode: 5, httpStatus: 504, make: (m, d) => new WaitTimeoutError(m, d) },
  internal: { exitCode: 1, httpStatus: 500, make: (m, d) => new OperationError(m, d) },
  invalid_request: { exitCode: 2, httpStatus: 400, make: (m, d) => new UsageError(m, d) },
  request_timeout: { exitCode: 1, httpStatus: 408, make: (m, d) => new OperationError(m, d) },
  payload_too_large: { exitCode: 2, httpStatus: 413, make: (m, d) => new UsageError(m, d) },
  unsupported_media_type: { exitCode: 2, httpStatus: 415, make: (m, d) => new UsageError(m, d) },
  headers_too_large: { exitCode: 2, httpStatus: 431, make: (m, d) => new UsageError(m, d) },
  unavailable: { exitCode: 1, httpStatus: 503, make: (m, d) => new OperationError(m, d) },
  too_many_requests: { exitCode: 1, httpStatus: 429, make: (m, d) => new OperationError(m, d) },
};

function entry(name: string | undefined) {
  return name !== undefined && Object.hasOwn(ERROR_NAMES, name) ? ERROR_NAMES[name as ErrorName] : ERROR_NAMES.internal;
}

/** Maps a JSON `error` name (from the API or a job) back to the exit code the CLI uses. */
export function exitCodeForErrorName(name: string | undefined): ExitCode {
  return entry(name).exitCode;
}

/** HTTP status of an error name; `conflict` is 409 except where a route says otherwise (the deletion routes answer 400, as the original design's API did). */
export function httpStatusForErrorName(name: string | undefined, conflictStatus = 409): number {
  return name === 'conflict' ? conflictStatus : entry(name).httpStatus;
}

/** Rebuilds a typed error from its JSON name (remote answers, stored job failures). */
export function errorFromName(name: string | undefined, message: string, details: readonly string[] = []): CliError {
  return entry(name).make(message, details);
}

/** One refused subject of a run over several (a customer ID, its row): what `refuseAll` reports. */
export interface Refusal {
  /** the customer ID, or '' when the message names the input itself (an invalid ID) */
  subject: string;
  error: CliError;
}

/**
 * Several subjects checked before anything happens, and some refused: every refusal at once, in
 * one error. Exit code: the shared one when all share it, else 1 (as DESIGN's bulk exit code).
 */
export class RefusalsError extends CliError {
  readonly exitCode: ExitCode;
  readonly errorName: ErrorName;
  readonly refusals: readonly Refusal[];

  constructor(what: string, refusals: readonly Refusal[], total: number) {
    const lines = refusals.flatMap((r) => [`${r.subject ? `${r.subject}: ` : ''}${r.error.message}`, ...r.error.details.map((l) => `  ${l}`)]);
    super(`refusing to ${what}: ${refusals.length} of ${total} cannot go ahead, so nothing was changed`, lines);
    const codes = [...new Set(refusals.map((r) => r.error.exitCode))];
    const names = [...new Set(refusals.map((r) => r.error.errorName))];
    this.exitCode = codes.length === 1 ? (codes[0] as ExitCode) : 1;
    this.errorName = names.length === 1 ? (names[0] as ErrorName) : codes.length === 1 && codes[0] === 2 ? 'usage' : 'internal';
    this.refusals = refusals;
  }
}

/** Throws nothing when there are no refusals; the refusal itself when the run had one subject; else a RefusalsError. */
export function refuseAll(what: string, refusals: readonly Refusal[], total: number): void {
  if (refusals.length === 0) return;
  if (total === 1 && refusals.length === 1) throw (refusals[0] as Refusal).error;
  throw new RefusalsError(what, refusals, total);
}

/** Errors that concern a whole run, not one customer (the API is unreachable, the token refused): stop at once. */
export function isRunWideError(e: unknown): boolean {
  return e instanceof TransportError || e instanceof UnauthorizedError || e instanceof ForbiddenError;
}

export function errorNameFor(e: unknown): ErrorName {
  return e instanceof CliError ? e.errorName : 'internal';
}

/** commander's own errors carry `code` starting with 'commander.' and an exitCode (0 for --help/--version). */
function isCommanderError(e: unknown): e is { code: string; exitCode: number } {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string'
    && (e as { code: string }).code.startsWith('commander.');
}

export function exitCodeFor(e: unknown): number {
  if (isCommanderError(e)) return e.exitCode === 0 ? 0 : 2;
  return e instanceof CliError ? e.exitCode : 1;
}

/** An error as JSON (`{error, message, details}`): a refused customer in `delete -o json`. */
export function errorJson(e: unknown): { error: string; message: string; details: string[] } {
  return { error: errorNameFor(e), message: errorMessage(e), details: e instanceof CliError ? [...e.details] : [] };
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
