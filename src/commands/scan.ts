/** `scan [--seconds N]`: lists nearby Daly BMS (name, address, RSSI). */
import type { CommandResult } from "./decode.js";
import { load, transportFor } from "./setup.js";

export async function scanCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  const c = load(argv, env, { seconds: { kind: "value" } });
  if (!c.ok) return { exitCode: c.exitCode, stderr: c.message + "\n" };
  const raw = c.commandFlags.get("seconds")?.at(-1) ?? "5";
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 300) return { exitCode: 2, stderr: `--seconds: expected a number of seconds in 0…300, got "${raw}"\n` };
  const radio = await transportFor(c.config, { simulateWhenNoBms: false });
  if ("ok" in radio) return { exitCode: radio.exitCode, stderr: radio.message + "\n" };
  try {
    const found = await radio.transport.scan(seconds);
    const lines = found
      .sort((a, b) => (b.rssi ?? -999) - (a.rssi ?? -999))
      .map((a) => JSON.stringify({ name: a.name ?? null, address: a.address, rssi: a.rssi ?? null, services: a.serviceUuids, ...(a.via ? { proxy: a.via } : {}) }));
    return { exitCode: 0, stdout: lines.join("\n") + (lines.length ? "\n" : ""), stderr: `${found.length} Daly BMS found${radio.simulated ? ` (simulated: ${radio.simulated})` : ""}\n` };
  } catch (e) {
    return { exitCode: 1, stderr: `scan: ${e instanceof Error ? e.message : String(e)}\n` };
  } finally {
    await radio.transport.shutdown();
  }
}
