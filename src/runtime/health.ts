/**
 * Health file for container health checks (docker/healthcheck.mjs), rewritten atomically after
 * every poll attempt of every BMS, whatever its outcome. Besides `ok` (the bridge works: with MQTT,
 * the broker is connected) it holds, per BMS, the time by which its next poll attempt must have
 * finished (`due`): the next scheduled start plus the longest a poll may take while waiting its
 * turn on the adapter. A poll loop that really stops leaves a `due` in the past, and the check
 * fails; there is no heartbeat that could keep a stopped loop looking alive. A BMS asleep or out
 * of range is a data condition (its state below), not a reason to restart the container.
 */
import { renameSync, writeFileSync } from "node:fs";

export type BmsHealthState = "online" | "offline" | "sleeping" | "busy" | "unknown";

export interface HealthReport {
  ok: boolean;
  /** When the file was written (epoch ms). */
  updated: number;
  mqtt: "connected" | "disconnected" | "not configured";
  bms: Record<string, { state: BmsHealthState; due: number }>;
}

export class HealthFile {
  private readonly bms: HealthReport["bms"] = {};

  /**
   * @param pollBudgetMs the longest one poll attempt may take, including its wait for the adapter
   *   (every timeout and retry of every BMS that shares it)
   */
  constructor(
    private readonly path: string,
    private readonly mqtt: () => HealthReport["mqtt"],
    private readonly pollBudgetMs: number,
  ) {}

  /** A BMS whose first poll is about to start. */
  add(address: string, now = Date.now()): void {
    this.bms[address] = { state: "unknown", due: now + this.pollBudgetMs };
  }

  /** A poll attempt ended with this state (no write: `scheduled` follows and writes). */
  set(address: string, state: BmsHealthState): void {
    const e = this.bms[address];
    if (e) e.state = state;
  }

  /** The BMS's next poll starts at `nextPollAt`: its attempt must end within the budget after. */
  scheduled(address: string, nextPollAt: number): void {
    const e = this.bms[address];
    if (!e) return;
    e.due = nextPollAt + this.pollBudgetMs;
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
