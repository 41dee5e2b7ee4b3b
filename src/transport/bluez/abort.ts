/** An AbortSignal as a promise to race BlueZ steps against; `dispose()` removes its listener. */
import { TransportError } from "../errors.js";

export function abortPromise(signal: AbortSignal | undefined): { promise: Promise<never>; dispose: () => void } {
  let onAbort = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(new TransportError("aborted", "timeout"));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal?.removeEventListener("abort", onAbort) };
}
