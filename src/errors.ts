/**
 * Typed errors: every failure a user can see is one of these, and its class decides the exit code.
 * Adapters translate foreign errors (ApiException, execa failures, pg errors) into these at the boundary.
 */

export type ExitCode = 1 | 2 | 3 | 4 | 5 | 6;

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
  | 'unavailable';

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

export class UnauthorizedError extends CliError {
  readonly exitCode = 1;
  readonly errorName: ErrorName = 'unauthorized';
}

export class ForbiddenError extends CliError {
  readonly exitCode = 1;
  readonly errorName: ErrorName = 'forbidden';
}

/** Maps a JSON `error` name (from the API or a job) back to the exit code the CLI uses. */
export function exitCodeForErrorName(name: string | undefined): ExitCode {
  switch (name) {
    case 'invalid_id':
    case 'invalid_namespace':
    case 'usage':
    case 'invalid_request':
    case 'payload_too_large':
    case 'unsupported_media_type':
    case 'headers_too_large':
      return 2;
    case 'not_found':
      return 3;
    case 'conflict':
      return 4;
    case 'timeout':
      return 5;
    default:
      return 1;
  }
}

/** Rebuilds a typed error from its JSON name (remote answers, stored job failures). */
export function errorFromName(name: string | undefined, message: string, details: readonly string[] = []): CliError {
  switch (name) {
    case 'invalid_id':
      return new InvalidIdError(message, details);
    case 'invalid_namespace':
      return new InvalidNamespaceError(message, details);
    case 'usage':
    case 'invalid_request':
    case 'payload_too_large':
    case 'unsupported_media_type':
    case 'headers_too_large':
      return new UsageError(message, details);
    case 'not_found':
      return new NotFoundError(message, details);
    case 'conflict':
      return new ConflictError(message, details);
    case 'timeout':
      return new WaitTimeoutError(message, details);
    case 'unauthorized':
      return new UnauthorizedError(message, details);
    case 'forbidden':
      return new ForbiddenError(message, details);
    default:
      return new OperationError(message, details);
  }
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

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
