/**
 * The scrape endpoint: `GET /metrics` (Prometheus text format) and `GET /healthz` (200 "ok"),
 * 404 for any other path, 405 for other methods. Port 0 binds a free port (tests); the bound port
 * is returned. close() stops listening and ends open (keep-alive) connections.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

export interface MetricsServerOptions {
  port: number;
  /** Default 0.0.0.0 (all IPv4 interfaces). */
  host?: string;
  registry: Pick<Registry, "metrics" | "contentType">;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer({ port, host = "0.0.0.0", registry }: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handle(req, res, registry).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  let closing: Promise<void> | undefined;
  return {
    port: typeof bound === "object" && bound !== null ? bound.port : port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, registry: MetricsServerOptions["registry"]): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path !== "/metrics" && path !== "/healthz") return send(res, 404, "text/plain; charset=utf-8", "not found\n");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
  }
  if (path === "/healthz") return send(res, 200, "text/plain; charset=utf-8", "ok\n");
  try {
    send(res, 200, registry.contentType, await registry.metrics());
  } catch (e) {
    send(res, 500, "text/plain; charset=utf-8", `collecting metrics failed: ${String(e)}\n`);
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
