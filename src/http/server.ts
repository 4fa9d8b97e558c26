import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Registry } from 'prom-client';

import type { Logger } from '../telemetry/logger.js';

export interface ReadinessReport {
  readonly ready: boolean;
  /** The loaded model, once it is: its version and the SHA-256 of its file. */
  readonly model?: { readonly version: string; readonly sha256: string };
  /** While start-up still waits: the stores (and the model) not answered yet. */
  readonly awaiting?: readonly string[];
  /** Each check's result: true, or what is wrong (a nested object for several sinks). */
  readonly checks: Readonly<Record<string, boolean | string | Readonly<Record<string, string>>>>;
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly readiness: () => ReadinessReport;
  readonly logger: Logger;
}

export interface RunningHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/healthz`: the process is alive (the event loop answers), from the first second.
 * `/readyz`: 200 only while the consumer is in its group, the model is loaded and every
 * sink accepts writes; 503 with the failing checks otherwise, and during start-up with the
 * stores still awaited.
 * `/metrics`: Prometheus text format.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply(405, 'application/json', '{"error":"method not allowed"}');
      return;
    }
    switch (path) {
      case '/healthz':
        reply(200, 'application/json', '{"status":"ok"}');
        return;
      case '/readyz': {
        const report = options.readiness();
        const starting = report.awaiting !== undefined && report.awaiting.length > 0;
        reply(
          report.ready ? 200 : 503,
          'application/json',
          JSON.stringify({
            status: report.ready ? 'ready' : starting ? 'starting' : 'not ready',
            ...(starting ? { reason: `awaiting ${(report.awaiting ?? []).join(', ')}` } : {}),
            ...(report.model === undefined ? {} : { model: report.model }),
            ...(report.awaiting === undefined ? {} : { awaiting: report.awaiting }),
            checks: report.checks,
          }),
        );
        return;
      }
      case '/metrics':
        options.registry.metrics().then(
          (text) => {
            reply(200, options.registry.contentType, text);
          },
          (error: unknown) => {
            options.logger.error({ err: error }, 'metrics collection failed');
            reply(500, 'text/plain', 'metrics collection failed\n');
          },
        );
        return;
      default:
        reply(404, 'application/json', '{"error":"not found"}');
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  options.logger.info({ host: options.host, port }, 'http server listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
