/**
 * noble 1.9.2-26 has no timeouts and its promises never settle on disconnect (ble-noble.md §5).
 * Every BLE step goes through `step()`: bounded by a timeout, raced against the peripheral's
 * disconnect, and with every listener it added removed when it settles.
 */
import type { PeripheralLike } from "./noble-types.js";
import { linkLost, timeoutError } from "../errors.js";

export function step<T>(p: PeripheralLike | undefined, name: string, ms: number, run: (done: (err: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      p?.removeListener("disconnect", onDisconnect);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onDisconnect = (reason: number): void => finish(linkLost(`${name}: disconnected (reason 0x${reason.toString(16)})`));
    const timer = setTimeout(() => finish(timeoutError(name, ms)), ms);
    p?.once("disconnect", onDisconnect);
    try {
      run(finish);
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** Disconnects only a connected peripheral (H7/H8), bounded, never throws. */
export async function releasePeripheral(p: PeripheralLike, ms: number): Promise<void> {
  if (p.state === "connected") {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      p.disconnect(() => {
        clearTimeout(t);
        resolve();
      });
    });
  } else if (p.state === "connecting") p.cancelConnect();
}
