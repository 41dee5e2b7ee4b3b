/** `poll --address MAC [--protocol auto|a5|d2|p81]`: one poll, one snapshot JSON on stdout. */
import type { CommandResult } from "./decode.js";
import { load, transportFor } from "./setup.js";
import { pollOnce } from "../runtime/poller.js";
import { applyCurrentSign } from "../bms/invert.js";
import type { DeviceProfile } from "../daly/plan.js";
import { normaliseMac } from "../config/formats.js";

export async function pollCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  const c = load(argv, env, { protocol: { kind: "value" } });
  if (!c.ok) return { exitCode: c.exitCode, stderr: c.message + "\n" };
  const config = c.config;
  const protoArg = c.commandFlags.get("protocol")?.at(-1) ?? "auto";
  if (!["auto", "a5", "d2", "p81"].includes(protoArg)) return { exitCode: 2, stderr: `--protocol: expected auto, a5, d2 or p81, got "${protoArg}"\n` };
  const configured = config.bms[0];
  const radio = await transportFor(config, { simulateWhenNoBms: false });
  if ("ok" in radio) return { exitCode: radio.exitCode, stderr: radio.message + "\n" };
  const address = configured?.address ?? radio.scenario?.bms[0]?.address;
  if (!address || !normaliseMac(address)) return { exitCode: 2, stderr: "poll: --address MAC is required (e.g. --address C0:D6:3C:57:2A:01)\n" };
  const profile: DeviceProfile | undefined = protoArg === "auto" ? (configured?.protocol && configured.protocol !== "auto" ? { protocol: configured.protocol, wantVersion: true } : undefined) : { protocol: protoArg as DeviceProfile["protocol"], wantVersion: true };
  try {
    // the adapter of the BMS (bms[].adapter; in the simulator also the scenario's)
    const adapter = configured?.adapter ?? radio.scenario?.bms.find((b) => b.address === normaliseMac(address))?.adapter;
    const link = await radio.transport.open({ address, ...(adapter ? { adapter } : {}) });
    try {
      const r = await pollOnce(link, profile, { requestTimeoutMs: Math.round(config.ble.requestTimeout * 1000), retries: config.ble.requestRetries });
      const snap = applyCurrentSign(r.snapshot, configured?.invertCurrent ?? false);
      return { exitCode: 0, stdout: JSON.stringify(snap) + "\n" };
    } finally {
      await link.close();
    }
  } catch (e) {
    return { exitCode: 1, stderr: `poll ${address}: ${e instanceof Error ? e.message : String(e)}\n` };
  } finally {
    await radio.transport.shutdown();
  }
}
