/**
 * One webhook POST over Node's fetch (undici, built into Node 20: no dependency). Redirects are
 * not followed (a 3xx is a failed try: the signed body goes only where it was configured to go).
 * The answer's body is read up to 4 KiB and dropped. Errors are reduced to a reason that names no
 * header and no body: `connection refused (ECONNREFUSED)`, `no answer within 10 s`.
 */
export interface WebhookRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

export type WebhookAnswer = { ok: true; status: number } | { ok: false; status: number | null; error: string };

export type PostWebhook = (r: WebhookRequest) => Promise<WebhookAnswer>;

/**
 * One POST as webhooks and hooks send it: no redirects followed, the attempt's timeout and the
 * caller's signal together. The response, or why there was none (a line for the operator).
 */
export async function postOnce(r: Pick<WebhookRequest, 'url' | 'body' | 'headers' | 'timeoutMs' | 'signal'>): Promise<Response | { error: string }> {
  const signals = [AbortSignal.timeout(r.timeoutMs), ...(r.signal ? [r.signal] : [])];
  try {
    return await fetch(r.url, {
      method: 'POST',
      headers: r.headers,
      body: r.body,
      redirect: 'manual',
      signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals),
    });
  } catch (e) {
    return { error: failureReason(e, r.timeoutMs) };
  }
}

export const postWebhook: PostWebhook = async (r) => {
  const sent = await postOnce(r);
  if (!(sent instanceof Response)) return { ok: false, status: null, error: sent.error };
  const res = sent;
  await drain(res);
  if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
  const why = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} (a redirect: not followed)` : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  return { ok: false, status: res.status, error: why };
};

async function drain(res: Response): Promise<void> {
  try {
    const reader = res.body?.getReader();
    if (!reader) return;
    let seen = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value?.byteLength ?? 0;
      if (seen > 4096) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // the answer's body is not ours to need
  }
}

/** A fetch failure as a reason that names no header and no body (`connection refused (ECONNREFUSED)`, `no answer within 10 s`). */
export function failureReason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } };
  if (err.name === 'TimeoutError') return `no answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`;
  if (err.name === 'AbortError') return 'interrupted';
  const code = err.cause?.code ?? err.cause?.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ECONNRESET') return 'connection reset (ECONNRESET)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${code})`;
  if (code) return code;
  return err.cause?.message ?? err.message ?? String(e);
}
