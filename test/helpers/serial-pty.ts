/**
 * A simulated Daly BMS on a pty pair: `socat` links <tmp>/bms ↔ <tmp>/host, the BMS end is opened
 * with serialport and answered by the simulator's responder (src/sim/responder.ts). The code under
 * test opens `hostPath` exactly like a USB–UART adapter. Request arrival times are recorded on the
 * BMS side (for the spacing test); replies can be delayed, dropped, and interleaved with garbage.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SerialPort } from "serialport";
import { FrameAssembler } from "../../src/daly/assembler.js";
import { sum8 } from "../../src/daly/checksum.js";
import { batteryAt } from "../../src/sim/battery.js";
import { createResponder } from "../../src/sim/responder.js";
import type { ScenarioBms } from "../../src/sim/scenario.js";

export interface PtyBmsOptions {
  bms: ScenarioBms;
  /** Delay before the replies to one request are written (default 5 ms). */
  replyDelayMs?: number;
  /** Written before every reply frame and after the last one (line noise between frames). */
  garbage?: Uint8Array;
  /** Start without answering (a sleeping BMS); can be flipped later. */
  silent?: boolean;
}

export interface RequestSeen {
  /** performance.now() when the chunk completing the request arrived at the BMS end. */
  at: number;
  bytes: Uint8Array;
}

export interface PtyBms {
  hostPath: string;
  requests: RequestSeen[];
  silent: boolean;
  /** Resolves with the next request frame the BMS end receives. */
  nextRequest(): Promise<RequestSeen>;
  /** Kills socat (the "USB adapter" disappears); resolves when it has exited. */
  unplug(): Promise<void>;
  /** Closes the BMS end of the pair (the board side goes away). */
  closeBmsEnd(): Promise<void>;
  /** Closes the BMS port, kills socat, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const SOCAT_READY_MS = 5000;

export async function startPtyBms(opts: PtyBmsOptions): Promise<PtyBms> {
  const { dir, bmsPath, hostPath, socat, exited } = await startSocat();
  const port = new SerialPort({ path: bmsPath, baudRate: 9600, autoOpen: false });
  port.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));

  const respond = createResponder(() => batteryAt(opts.bms, Date.now()), {
    protocol: opts.bms.protocol,
    ...(opts.bms.a5_hosts ? { a5Hosts: opts.bms.a5_hosts } : {}),
    ...(opts.bms.a5_all_frames ? { a5AllFrames: true } : {}),
  });
  const asm = new FrameAssembler();
  const timers = new Set<NodeJS.Timeout>();
  const waiting: Array<(r: RequestSeen) => void> = [];
  const delay = opts.replyDelayMs ?? 5;

  const h: PtyBms = {
    hostPath,
    requests: [],
    silent: opts.silent ?? false,
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    unplug: async () => {
      if (socat.exitCode === null && socat.signalCode === null) socat.kill("SIGTERM");
      await exited;
    },
    closeBmsEnd: () => closePort(port),
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await closePort(port);
      await h.unplug();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  port.on("data", (chunk: Buffer) => {
    const at = performance.now();
    const bytes = new Uint8Array(chunk);
    for (const it of asm.push(bytes)) {
      if (!it.ok) continue;
      const f = it.frame;
      if ((f.family === "a5" && f.direction === "request") || (f.family === "modbus" && f.kind === "read-request")) {
        const seen = { at, bytes: f.bytes };
        h.requests.push(seen);
        for (const w of waiting.splice(0)) w(seen);
      }
    }
    const replies = respond(bytes);
    if (h.silent || replies.length === 0) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!port.isOpen) return;
      for (const r of replies) {
        if (opts.garbage) port.write(Buffer.from(opts.garbage));
        port.write(Buffer.from(r));
      }
      if (opts.garbage) port.write(Buffer.from(opts.garbage));
    }, delay);
    timers.add(t);
  });
  return h;
}

/** A socat pty pair <tmp>/bms ↔ <tmp>/host, ready. */
async function startSocat(): Promise<{ dir: string; bmsPath: string; hostPath: string; socat: ChildProcess; exited: Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "daly-pty-"));
  const bmsPath = join(dir, "bms");
  const hostPath = join(dir, "host");
  const socat = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${bmsPath}`, `pty,raw,echo=0,link=${hostPath}`], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => {
    socat.once("close", () => resolve());
    socat.once("error", () => resolve()); // spawn failure: no process to wait for
  });
  try {
    await socatReady(socat);
    if (!existsSync(bmsPath) || !existsSync(hostPath)) throw new Error(`socat reported ready but ${bmsPath} / ${hostPath} are missing`);
  } catch (e) {
    socat.kill("SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, bmsPath, hostPath, socat, exited };
}

export interface PtyBusOptions {
  /** The boards on the line, each with its `board` number (scenario key). */
  boards: ScenarioBms[];
  /** Delay before a board answers (default 5 ms). */
  replyDelayMs?: number;
}

export interface PtyBus {
  hostPath: string;
  /** Board numbers that do not answer (silent, asleep, unplugged from the line); can change at any time. */
  silent: Set<number>;
  /** Requests seen on the line, with the board they were sent to (A5: byte 1 − 0x3F; 0x81: byte 0 − 0x80). */
  requests: Array<{ board: number; bytes: Uint8Array }>;
  /** Replies each board wrote (by board number). */
  answered: Map<number, number>;
  /**
   * Cross-talk: board `value` (a misaddressed or misconfigured board) also answers requests
   * addressed to board `key`, from its own address.
   */
  crossTalk: Map<number, number>;
  /** Requests ("req") and replies ("rep") on the line in order, by board number. */
  line: Array<{ kind: "req" | "rep"; board: number }>;
  stop(): Promise<void>;
}

/**
 * Several simulated boards on one RS485 line (one pty pair): every board hears every request and
 * answers only its own address (A5: 0x3F + n, from n; 0x81: 0x80 + n, from 0x50 + n), as on a
 * real bus. A D2 board has no address and cannot be on it.
 */
export async function startPtyBus(opts: PtyBusOptions): Promise<PtyBus> {
  const { dir, bmsPath, hostPath, socat, exited } = await startSocat();
  const port = new SerialPort({ path: bmsPath, baudRate: 9600, autoOpen: false });
  port.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const boards = opts.boards.map((bms) => {
    if (bms.board === undefined) throw new Error(`${bms.address}: a board on the bus needs its board number`);
    const board = bms.board;
    const state = (): ReturnType<typeof batteryAt> => batteryAt(bms, Date.now());
    return { board, state, respond: createResponder(state, { protocol: bms.protocol, board }) };
  });
  const asm = new FrameAssembler({ p81Boards: boards.map((b) => b.board) });
  const timers = new Set<NodeJS.Timeout>();
  const bus: PtyBus = {
    hostPath,
    silent: new Set(),
    requests: [],
    answered: new Map(),
    crossTalk: new Map(),
    line: [],
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await closePort(port);
      if (socat.exitCode === null && socat.signalCode === null) socat.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  port.on("data", (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk);
    const asked: Array<{ board: number; bytes: Uint8Array }> = [];
    for (const it of asm.push(bytes)) {
      if (!it.ok) continue;
      const f = it.frame;
      // A5 board n is asked at 0x3F + n, 0x81 board n at 0x80 + n
      const board = f.family === "a5" ? (f.direction === "request" ? f.address - 0x3f : 0) : f.kind === "read-request" && f.protocol === "p81" ? (f.bytes[0] ?? 0) - 0x80 : 0;
      if (board === 0) continue;
      asked.push({ board, bytes: f.bytes });
      bus.requests.push({ board, bytes: f.bytes });
      bus.line.push({ kind: "req", board });
    }
    const send = (board: number, replies: Uint8Array[]): void => {
      if (replies.length === 0 || bus.silent.has(board)) return;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!port.isOpen) return;
        bus.answered.set(board, (bus.answered.get(board) ?? 0) + 1);
        bus.line.push({ kind: "rep", board });
        for (const r of replies) port.write(Buffer.from(r));
      }, opts.replyDelayMs ?? 5);
      timers.add(t);
    };
    for (const b of boards) send(b.board, b.respond(bytes));
    for (const a of asked) {
      const other = boards.find((b) => b.board === bus.crossTalk.get(a.board));
      if (!other) continue;
      // answers a request that was not for it, from its own address
      const replies = createResponder(other.state, { protocol: "a5", board: a.board })(a.bytes).map((r) => {
        const f = Uint8Array.from(r);
        f[1] = other.board;
        f[12] = sum8(f, 12);
        return f;
      });
      send(other.board, replies);
    }
  });
  return bus;
}

/** Waits for socat's "starting data transfer loop" line (both ptys and links exist by then). */
function socatReady(socat: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let log = "";
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socat.stderr?.removeListener("data", onData);
      socat.removeListener("error", onError);
      socat.removeListener("exit", onExit);
      socat.stderr?.resume(); // keep draining so socat never blocks on a full pipe
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (log.includes("starting data transfer loop")) done();
    };
    const onError = (e: Error): void => done(new Error(`cannot run socat (install it: apt-get install socat): ${e.message}`));
    const onExit = (code: number | null): void => done(new Error(`socat exited (${code}) before it was ready:\n${log}`));
    const timer = setTimeout(() => done(new Error(`socat not ready after ${SOCAT_READY_MS} ms:\n${log}`)), SOCAT_READY_MS);
    socat.stderr?.on("data", onData);
    socat.once("error", onError);
    socat.once("exit", onExit);
  });
}

function closePort(port: SerialPort): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise<void>((resolve) => port.close(() => resolve()));
}

/**
 * Records when the code under test hands bytes to the OS for `path` (a spy on serialport's write,
 * shared by every SerialPort in this process). Used to tell the transport's spacing apart from the
 * relay delay socat adds under load. restore() removes the spy.
 */
export function spyPortWrites(path: string): { times: number[]; restore(): void } {
  const proto = SerialPort.prototype;
  const original = proto.write;
  const times: number[] = [];
  type Write = (this: SerialPort, ...args: unknown[]) => boolean;
  const orig = original as unknown as Write;
  const spy: Write = function (this: SerialPort, ...args: unknown[]): boolean {
    if (this.path === path) times.push(performance.now());
    return orig.apply(this, args);
  };
  proto.write = spy as unknown as typeof original;
  return { times, restore: () => void (proto.write = original) };
}
