/**
 * A private dbus-daemon for tests: its own socket in a temp directory and a policy that lets the
 * test process own any name (org.bluez) and call anything. Ready when it prints its address.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DBUS_DAEMON = "/usr/bin/dbus-daemon";

export interface PrivateBus {
  /** D-Bus address for dbus-next (`sessionBus({ busAddress })`). */
  address: string;
  /** Kills the daemon (bounded) and removes its directory. */
  stop(): Promise<void>;
}

const config = (socket: string): string => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`;

export async function startPrivateBus(timeoutMs = 5000): Promise<PrivateBus> {
  const dir = mkdtempSync(join(tmpdir(), "daly-dbus-"));
  const conf = join(dir, "bus.conf");
  writeFileSync(conf, config(join(dir, "bus")));
  const child = spawn(DBUS_DAEMON, [`--config-file=${conf}`, "--nofork", "--print-address=1"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    await kill(child, exited);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`dbus-daemon printed no address within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      child.once("error", (e) => reject(new Error(`cannot start ${DBUS_DAEMON}: ${e.message} (Debian package "dbus")`)));
      child.once("exit", (code) => reject(new Error(`dbus-daemon exited (${code}): ${stderr}`)));
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        const line = out.split("\n")[0];
        if (out.includes("\n") && line) {
          clearTimeout(timer);
          resolve(line.trim());
        }
      });
    });
    return { address, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}
