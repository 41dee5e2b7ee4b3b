/**
 * Runs polls against the simulator (real noble HCI/GATT stack + NobleTransport + poller) and times
 * them: (a) steady state, back-to-back pollOnce on one open link; (b) the bridge's default cycle,
 * transport.open → pollOnce → link.close, as the first poll after a start (versions read); (c) the
 * same cycle as the supervisor runs it every interval afterwards (versions are read once, so the
 * steady profile) — the adapter time one BMS costs per poll, the input of the capacity figures.
 * Every variant gets its own radio (fresh noble instance).
 */
import { performance } from "node:perf_hooks";
import { pollOnce, type PollStats } from "../../src/runtime/poller.js";
import type { DeviceProfile } from "../../src/daly/plan.js";
import { createSimRadio, type SimRadio } from "../../src/sim/radio.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";
import type { SimTiming } from "../../src/sim/hci/types.js";

export interface Variant {
  id: string;
  /** What is polled, in words (printed). */
  label: string;
  bms: Omit<ScenarioBms, "timing">;
  /** Server Rx MTU of the module. */
  serverMtu: number;
  /** Profile of a steady-state poll on an open link. */
  steady: DeviceProfile;
  /** Profile the supervisor uses right after an open (it sets wantVersion: true on every connect). */
  cycle: DeviceProfile;
}

export interface PollSample {
  totalMs: number;
  stats: PollStats;
}

export interface CycleSample extends PollSample {
  /** open() called → LE Create Connection issued (scan until the BMS is discovered). */
  scanMs: number;
  /** LE Create Connection → LE Connection Complete. */
  connectMs: number;
  /** LE Connection Complete → open() resolved (MTU, discovery, CCCD). */
  gattMs: number;
  pollMs: number;
  closeMs: number;
  /** ATT requests the host sent before its first Write Command (setup transactions). */
  setupAtt: number;
}

export interface VariantRun {
  steady: PollSample[];
  cycles: CycleSample[];
  /** open → steady poll → close (the supervisor's cycle after its first poll); empty when not measured. */
  bridge: CycleSample[];
  /** Host flow-control violations seen by the controller (must be 0). */
  aclOverflow: number;
}

const TRANSPORT = { scanTimeoutMs: 5000, connectTimeoutMs: 5000, gattTimeoutMs: 3000, cancelGraceMs: 500 };
const POLL = { requestTimeoutMs: 3000, retries: 2 };
const WRITE_CMD = 0x52;

export async function runVariant(v: Variant, timing: Required<SimTiming>, n: number, bridgeCycles = n): Promise<VariantRun> {
  const bms: ScenarioBms = { ...v.bms, mtu: v.serverMtu, timing: { ...timing } };
  const radio = createSimRadio({ bms: [bms] }, TRANSPORT);
  try {
    await cycle(radio, v, v.cycle); // warm-up: noble power-on, first scan, JIT
    const cycles: CycleSample[] = [];
    for (let i = 0; i < n; i++) cycles.push(await cycle(radio, v, v.cycle));
    const bridge: CycleSample[] = [];
    for (let i = 0; i < bridgeCycles; i++) bridge.push(await cycle(radio, v, v.steady));
    const steady: PollSample[] = [];
    const link = await radio.transport.open({ address: bms.address });
    try {
      await pollOnce(link, v.steady, POLL); // warm-up
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const r = await pollOnce(link, v.steady, POLL);
        steady.push({ totalMs: performance.now() - t0, stats: r.stats });
      }
    } finally {
      await link.close();
    }
    return { steady, cycles, bridge, aclOverflow: radio.controller.counters.aclOverflow };
  } finally {
    await radio.stop();
  }
}

/** Only the supervisor's steady cycle (open → steady poll → close), n samples after a warm-up. */
export async function runBridgeCycles(v: Variant, timing: Required<SimTiming>, n: number): Promise<CycleSample[]> {
  const bms: ScenarioBms = { ...v.bms, mtu: v.serverMtu, timing: { ...timing } };
  const radio = createSimRadio({ bms: [bms] }, TRANSPORT);
  try {
    await cycle(radio, v, v.cycle);
    const out: CycleSample[] = [];
    for (let i = 0; i < n; i++) out.push(await cycle(radio, v, v.steady));
    return out;
  } finally {
    await radio.stop();
  }
}

async function cycle(radio: SimRadio, v: Variant, profile: DeviceProfile): Promise<CycleSample> {
  const c = radio.controller;
  let pendingAt = Number.NaN;
  let connectedAt = Number.NaN;
  const onPending = (): void => void (pendingAt = performance.now());
  const onConnected = (): void => void (connectedAt = performance.now());
  c.on("connectionPending", onPending);
  c.on("connected", onConnected);
  try {
    const t0 = performance.now();
    const link = await radio.transport.open({ address: v.bms.address });
    const t1 = performance.now();
    const stats = await pollOnce(link, profile, POLL).then(
      (r) => r.stats,
      async (e: unknown) => {
        await link.close();
        throw e;
      },
    );
    const t2 = performance.now();
    await link.close();
    const t3 = performance.now();
    const ops = c.peripheralCounters(v.bms.address).attOpcodes;
    const firstWrite = ops.indexOf(WRITE_CMD);
    return {
      totalMs: t3 - t0,
      scanMs: pendingAt - t0,
      connectMs: connectedAt - pendingAt,
      gattMs: t1 - connectedAt,
      pollMs: t2 - t1,
      closeMs: t3 - t2,
      stats,
      setupAtt: firstWrite < 0 ? ops.length : firstWrite,
    };
  } finally {
    c.off("connectionPending", onPending);
    c.off("connected", onConnected);
  }
}
