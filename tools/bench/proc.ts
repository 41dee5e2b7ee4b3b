/**
 * Process resource readings from Linux /proc (pure parsers, plus one reader).
 * CPU: utime + stime of /proc/<pid>/stat (clock ticks, all threads) over wall time → % of one core.
 * Memory: VmRSS of /proc/<pid>/status (what `ps`/`top` call RSS), split into RssAnon (the process's
 * own memory) and RssFile (mapped files, mostly the node binary's pages — shared with every other
 * node process).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface ProcStat {
  utimeTicks: number;
  stimeTicks: number;
  threads: number;
}

/** Parses /proc/<pid>/stat; field 2 (comm) may contain spaces and parentheses, so fields are counted after the last ")". */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error("not a /proc/<pid>/stat line");
  const f = text.slice(close + 1).trim().split(/\s+/); // f[0] is field 3 (state)
  const field = (n: number): number => {
    const v = Number(f[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc stat field ${n} missing`);
    return v;
  };
  return { utimeTicks: field(14), stimeTicks: field(15), threads: field(20) };
}

/** A "Key:   1234 kB" line of /proc/<pid>/status, in kB. */
export function statusKb(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

/** CPU time over wall time, in % of one core. */
export function cpuPercent(ticks: number, hz: number, wallMs: number): number {
  if (!(wallMs > 0) || !(hz > 0)) return Number.NaN;
  return (ticks / hz / (wallMs / 1000)) * 100;
}

export interface ProcSample {
  atMs: number;
  cpuTicks: number;
  /** utime + stime of the main (JavaScript) thread alone. */
  mainThreadTicks: number;
  utimeTicks: number;
  stimeTicks: number;
  threads: number;
  vmRssKb: number;
  rssAnonKb: number;
  rssFileKb: number;
}

/** One reading of a live process (throws once it is gone). */
export function sampleProc(pid: number, atMs: number): ProcSample {
  const st = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const main = parseProcStat(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8"));
  return {
    atMs,
    cpuTicks: st.utimeTicks + st.stimeTicks,
    mainThreadTicks: main.utimeTicks + main.stimeTicks,
    utimeTicks: st.utimeTicks,
    stimeTicks: st.stimeTicks,
    threads: st.threads,
    vmRssKb: statusKb(status, "VmRSS") ?? Number.NaN,
    rssAnonKb: statusKb(status, "RssAnon") ?? Number.NaN,
    rssFileKb: statusKb(status, "RssFile") ?? Number.NaN,
  };
}

/** Clock ticks per second (getconf CLK_TCK; 100 on every usual Linux). */
export function clockTicks(): number {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
}
