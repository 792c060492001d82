/**
 * One deletion-hook POST over Node's fetch (undici, built into Node: no dependency). Unlike a
 * webhook's, the answer matters: its status, `Content-Type`, `Retry-After` and body are returned.
 *
 * - Redirects are not followed: a 3xx is returned as it is (the signed body goes only where it
 *   was configured to go; src/domain/hooks.ts judges it a failure).
 * - The body is read up to `maxBodyBytes` (default 16 KiB); a longer one is cut there and the
 *   connection closed, so a receiver streaming without end costs neither memory nor time.
 * - The timeout covers the whole exchange, body included; the caller's signal (the attempt's)
 *   stops it at once.
 * - A failure is reduced to a reason that names no header and no body (`connection refused
 *   (ECONNREFUSED)`, `no answer within 10 s`).
 */
import { MAX_ANSWER_BYTES } from '../domain/hooks.js';
import { postOnce } from './webhook-http.js';

export interface HookRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** the answer body read at most (default 16 KiB) */
  maxBodyBytes?: number;
}

export type HookAnswer =
  | {
    ok: true;
    status: number;
    statusText: string;
    contentType: string | null;
    /** the raw `Retry-After` header */
    retryAfter: string | null;
    /** the body as UTF-8, at most `maxBodyBytes` of it */
    body: string;
    /** the body was longer (or stopped before its end): only its beginning is in `body` */
    truncated: boolean;
  }
  | { ok: false; error: string };

export type PostHook = (r: HookRequest) => Promise<HookAnswer>;

export const postHook: PostHook = async (r) => {
  const sent = await postOnce(r);
  if (!(sent instanceof Response)) return { ok: false, error: sent.error };
  const res = sent;
  const { body, truncated } = await readBounded(res, r.maxBodyBytes ?? MAX_ANSWER_BYTES);
  return {
    ok: true,
    status: res.status,
    statusText: res.statusText,
    contentType: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    body,
    truncated,
  };
}

/** The body's first `max` bytes as UTF-8 (a character cut at the end is dropped); the rest is not read. */
async function readBounded(res: Response, max: number): Promise<{ body: string; truncated: boolean }> {
  const reader = res.body?.getReader();
  if (!reader) return { body: '', truncated: false };
  const chunks: Uint8Array[] = [];
  let seen = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!value) continue;
      const room = max - seen;
      if (value.byteLength > room) {
        chunks.push(value.subarray(0, room));
        seen = max;
        truncated = true;
        break;
      }
      chunks.push(value);
      seen += value.byteLength;
    }
  } catch {
    // stopped mid-body (the timeout, the attempt's signal, a reset): what was read is what there is
    truncated = true;
  }
  if (truncated) await reader.cancel().catch(() => undefined);
  const bytes = Buffer.concat(chunks);
  // `stream: true` keeps a multi-byte character cut by the bound out instead of showing U+FFFD
  const body = new TextDecoder('utf-8').decode(bytes, { stream: truncated });
  return { body, truncated };
}
