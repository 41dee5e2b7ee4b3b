/**
 * The metrics feature in one call for `run`: a dedicated registry, attached to the supervisors,
 * served over HTTP. close() detaches the listeners and closes the server.
 */
import { attachMetrics, type MetricsSource } from "./attach.js";
import { createMetrics, type DalyMetrics } from "./registry.js";
import { startMetricsServer } from "./server.js";

export { attachMetrics, type MetricsSource } from "./attach.js";
export { bmsId, createMetrics, type DalyMetrics, type MetricsOptions } from "./registry.js";
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from "./server.js";

export interface BridgeMetrics {
  readonly metrics: DalyMetrics;
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startBridgeMetrics(supervisors: readonly MetricsSource[], opts: { port: number; host?: string }): Promise<BridgeMetrics> {
  const metrics = createMetrics();
  const detach = attachMetrics(supervisors, metrics);
  try {
    const server = await startMetricsServer({ port: opts.port, ...(opts.host ? { host: opts.host } : {}), registry: metrics.registry });
    return {
      metrics,
      port: server.port,
      close: async () => {
        detach();
        await server.close();
      },
    };
  } catch (e) {
    detach();
    throw e;
  }
}
