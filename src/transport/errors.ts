/** Typed transport errors: the supervisor's backoff and log level depend on the class. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: "timeout" | "not-found" | "gatt-missing" | "link-lost" | "adapter" | "no-reply" | "corrupt" | "busy",
  ) {
    super(message);
    this.name = "TransportError";
  }
}

export const timeoutError = (step: string, ms: number): TransportError => new TransportError(`${step} timed out after ${ms} ms`, "timeout");
export const notFound = (address: string, s: number): TransportError => new TransportError(`${address} not found within ${s} s (out of range, asleep, or held by another central such as the phone app)`, "not-found");
/** Reachable, but another client holds what we need (BlueZ: notify or write acquired by another D-Bus client). */
export const busy = (why: string): TransportError => new TransportError(`in use by another client: ${why}`, "busy");
export const linkLost = (why: string): TransportError => new TransportError(`link lost: ${why}`, "link-lost");

/** Races a promise against a timeout and an abort signal; always clears its timer. */
export async function bounded<T>(p: Promise<T>, ms: number, step: string, extra?: Promise<never>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(step, ms)), ms);
  });
  try {
    return await Promise.race(extra ? [p, t, extra] : [p, t]);
  } finally {
    clearTimeout(timer);
  }
}
