/**
 * Stripe's error answer: HTTP status + `{"error": {"type", "code"?, "message", "param"?, "doc_url"?}}`.
 * The official SDK picks its error class from the status (401 authentication, 403 permission,
 * 429 rate limit, 400/404 invalid request or, with `type: idempotency_error`, idempotency).
 */
export interface StripeErrorBody {
  type: 'invalid_request_error' | 'api_error' | 'idempotency_error' | 'card_error';
  message: string;
  code?: string;
  param?: string;
  doc_url?: string;
}

export class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: StripeErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(error.message);
  }
}

export const unknownParameter = (param: string) =>
  new StripeHttpError(400, { type: 'invalid_request_error', code: 'parameter_unknown', param, message: `Received unknown parameter: ${param}`, doc_url: 'https://stripe.com/docs/error-codes/parameter-unknown' });

export const missingParameter = (param: string) =>
  new StripeHttpError(400, { type: 'invalid_request_error', code: 'parameter_missing', param, message: `Missing required param: ${param}.`, doc_url: 'https://stripe.com/docs/error-codes/parameter-missing' });

export const invalidParameter = (param: string, message: string, code?: string) =>
  new StripeHttpError(400, { type: 'invalid_request_error', param, message, ...(code ? { code } : {}) });

/** `No such subscription: 'sub_x'` (404 resource_missing): also what a second cancel of a subscription answers. */
export const noSuch = (what: string, id: string, param = 'id') =>
  new StripeHttpError(404, { type: 'invalid_request_error', code: 'resource_missing', param, message: `No such ${what}: '${id}'`, doc_url: 'https://stripe.com/docs/error-codes/resource-missing' });

/** An API key as Stripe shows it in messages: the prefix and the last four characters. */
export function maskKey(key: string): string {
  const m = /^([a-z]{2}_(?:test|live)_)/.exec(key);
  const prefix = m ? (m[1] as string) : '';
  return `${prefix}${'*'.repeat(Math.max(4, Math.min(24, key.length - prefix.length - 4)))}${key.slice(-4)}`;
}
