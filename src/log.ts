/**
 * Logging (style.md §2(c) "Logging"): one pino root writing to **stderr** — stdout is reserved for
 * snapshot JSON in stdout mode — with static messages and data in fields. Pretty output is
 * formatted synchronously in-process (pino-pretty's prettyFactory, not its worker/stream), so
 * nothing is lost when a short-lived command exits right after logging.
 */
import pino, { type DestinationStream, type Level, type Logger } from "pino";
import { createRequire } from "node:module";

/** pino-pretty is loaded only when pretty output is used (a daemon logging JSON never needs it). */
const lazyRequire = createRequire(import.meta.url);
import { redactUrl, REDACTED } from "./config/redact.js";
import type { LogFormat } from "./config/schema.js";

export type { Logger, LogFormat };

export interface LoggerOptions {
  readonly level: Level;
  readonly format: LogFormat;
  /** Where lines go; default stderr (fd 2, synchronous). `isTTY` decides `auto`. */
  readonly destination?: DestinationStream & { isTTY?: boolean };
}

/** Fields whose value is replaced by "***" wherever they are logged (one object level deep). */
const SECRET_PATHS = [
  "password",
  "*.password",
  "mqtt.password",
  "*.mqtt.password",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "encryptionKey",
  "*.encryptionKey",
];
/** Fields holding URLs: only their credentials are masked (mqtt://user:***@host). */
const URL_PATHS = ["url", "*.url", "mqtt.url", "*.mqtt.url"];

function censor(value: unknown, path: string[]): unknown {
  if (path.at(-1) === "url") return typeof value === "string" ? redactUrl(value) : value;
  return REDACTED;
}

export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? Object.assign(pino.destination({ fd: 2, sync: true }), { isTTY: process.stderr.isTTY });
  const pretty = opts.format === "pretty" || (opts.format === "auto" && dest.isTTY === true);
  const stream: DestinationStream = pretty ? prettyStream(dest) : dest;
  return pino(
    {
      level: opts.level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...SECRET_PATHS, ...URL_PATHS], censor },
    },
    stream,
  );
}

function prettyStream(dest: DestinationStream & { isTTY?: boolean }): DestinationStream {
  const { prettyFactory } = lazyRequire("pino-pretty") as typeof import("pino-pretty");
  const format = prettyFactory({ colorize: dest.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" });
  return { write: (line: string) => dest.write(format(line)) };
}

export interface LogBindings {
  readonly component?: string;
  /** Display name of a BMS. */
  readonly bms?: string;
  readonly mac?: string;
}

/** `log.child({ component: "mqtt" })`, `log.child({ bms: "Pack A", mac })`. */
export function child(log: Logger, bindings: LogBindings): Logger {
  return log.child({ ...bindings });
}

export interface StateMessage {
  readonly level: Level;
  readonly msg: string;
}

/**
 * Logs a state only when it changes, per key: a BMS that fails every poll for an hour gives one
 * "unreachable" line, not one per retry, and one line when it comes back.
 *
 *   const links = new StateChangeLog(log, "mac", {
 *     online: { level: "info", msg: "bms online" },
 *     unreachable: { level: "warn", msg: "bms unreachable" },
 *   });
 *   links.logChange(mac, "unreachable", { failures: 3 });
 */
export class StateChangeLog<S extends string> {
  private readonly last = new Map<string, S>();

  constructor(
    private readonly log: Logger,
    /** Field name under which the key is logged (e.g. "mac"). */
    private readonly keyField: string,
    private readonly messages: Readonly<Record<S, StateMessage>>,
  ) {}

  /** Logs (and returns true) if `state` differs from the last state logged for `key`. */
  logChange(key: string, state: S, fields: Readonly<Record<string, unknown>> = {}): boolean {
    const previous = this.last.get(key);
    if (previous === state) return false;
    this.last.set(key, state);
    const m = this.messages[state];
    this.log[m.level]({ ...fields, [this.keyField]: key, state, ...(previous === undefined ? {} : { previous }) }, m.msg);
    return true;
  }

  /** The last state logged for `key`. */
  current(key: string): S | undefined {
    return this.last.get(key);
  }

  /** Forgets `key`, so its next state is logged whatever it is. */
  forget(key: string): void {
    this.last.delete(key);
  }
}
