/**
 * `custctl worker --metrics-port N`: the same series as serve's `/metrics`, on a port of their own
 * (a worker has no API and no tokens). `GET /metrics` only; anything else is 404. Loopback by
 * default; the series hold no customer ids, namespaces or tokens.
 */
import { createServer, type Server } from 'node:http';
import { errorMessage, UsageError } from '../errors.js';

export interface MetricsSource {
  contentType: string;
  text(): Promise<string>;
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

export async function listenMetrics(source: MetricsSource, o: { host: string; port: number }): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end('not found: GET /metrics\n');
      return;
    }
    source.text().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics unavailable: ${errorMessage(e)}\n`),
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new UsageError(`cannot listen on ${o.host}:${o.port} for metrics: ${e.code === 'EADDRINUSE' ? 'the port is in use' : errorMessage(e)}`, ['Pick another port with --metrics-port.'])));
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
