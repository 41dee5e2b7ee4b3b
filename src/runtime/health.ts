/**
 * Health file for container health checks (docker/healthcheck.mjs): rewritten atomically after
 * every poll outcome. `ok` says the bridge works (its loop runs and, with MQTT, the broker is
 * connected); a BMS being asleep or out of range is a data condition, reported per BMS, not a
 * reason to restart the container.
 */
import { renameSync, writeFileSync } from "node:fs";

export interface HealthReport {
  ok: boolean;
  updated: number;
  mqtt: "connected" | "disconnected" | "not configured";
  bms: Record<string, "online" | "offline" | "sleeping" | "busy" | "unknown">;
}

export class HealthFile {
  private readonly bms: HealthReport["bms"] = {};

  constructor(
    private readonly path: string,
    private readonly mqtt: () => HealthReport["mqtt"],
  ) {}

  set(address: string, state: HealthReport["bms"][string]): void {
    if (this.bms[address] === state) return; // the 30 s heartbeat keeps `updated` fresh
    this.bms[address] = state;
    this.write();
  }

  write(): void {
    const m = this.mqtt();
    const report: HealthReport = { ok: m !== "disconnected", updated: Date.now(), mqtt: m, bms: this.bms };
    try {
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, JSON.stringify(report));
      renameSync(tmp, this.path);
    } catch {
      // an unwritable path only disables the container health check
    }
  }
}
