/**
 * What the route groups a browser uses (the console, the customer portal) share: the origin the
 * browser sees, and the HTML forms they post.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteSettings } from './settings.js';

/** An HTML form's fields, as posted (application/x-www-form-urlencoded). */
export type Form = Record<string, string | undefined>;

/**
 * The origin the browser sees, and whether that is HTTPS: the public URL when one is given, else
 * the request's scheme and host (X-Forwarded-Proto/-Host only from a trusted proxy: fastify's
 * trustProxy), else the socket's.
 */
export function browserOrigin(s: Pick<RouteSettings, 'publicUrl' | 'https'>): (req: FastifyRequest) => { origin: string | null; secure: boolean } {
  const publicOrigin = s.publicUrl ? new URL(s.publicUrl).origin : null;
  return (req) => {
    if (publicOrigin) return { origin: publicOrigin, secure: publicOrigin.startsWith('https:') };
    const secure = Boolean(s.https) || req.protocol === 'https';
    const host = req.host;
    return { origin: host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? `${secure ? 'https' : 'http'}://${host}` : null, secure };
  };
}

/** The pages' forms post application/x-www-form-urlencoded (the API takes only JSON): parsed in this scope only. */
export function acceptForms(scope: FastifyInstance): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    const form: Form = {};
    for (const [k, v] of new URLSearchParams(body as string)) form[k] = v;
    done(null, form);
  });
}
