/**
 * D-Bus / BlueZ errors → TransportError kinds (the supervisor's backoff and log level depend on
 * the kind). BlueZ error names: doc/org.bluez.Device.rst, Adapter.rst, GattCharacteristic.rst.
 */
import dbus from "dbus-next";
import { linkLost, TransportError } from "../errors.js";

type Kind = TransportError["kind"];

export const NO_BLUEZ =
  "BlueZ (org.bluez) is not on the D-Bus bus: is bluetoothd running? (Docker: mount /run/dbus; Home Assistant add-on: host_dbus: true)";

/** The D-Bus error name of `e` (or of the error it was mapped from), when it is one. */
export function dbusName(e: unknown): string | undefined {
  if (e instanceof dbus.DBusError) return e.type;
  return e instanceof TransportError && e.cause instanceof dbus.DBusError ? e.cause.type : undefined;
}

function text(e: unknown): string {
  if (e instanceof dbus.DBusError) return `${e.type.replace(/^org\.(bluez|freedesktop\.DBus)\.Error\./, "")}: ${e.text ?? ""}`.trim();
  return e instanceof Error ? e.message : String(e);
}

/**
 * Maps an error of D-Bus step `step` to a TransportError. `fallback` is the kind for errors the
 * step does not know better (a Connect "Failed" means the module did not answer: not-found).
 */
export function mapError(e: unknown, step: string, fallback: Kind): TransportError {
  if (e instanceof TransportError) return e;
  const t = classify(e, step, fallback);
  t.cause = e;
  return t;
}

function classify(e: unknown, step: string, fallback: Kind): TransportError {
  const name = dbusName(e);
  const why = `${step}: ${text(e)}`;
  switch (name) {
    case "org.freedesktop.DBus.Error.ServiceUnknown":
    case "org.freedesktop.DBus.Error.NameHasNoOwner":
      return new TransportError(NO_BLUEZ, "adapter");
    case "org.freedesktop.DBus.Error.AccessDenied":
      return new TransportError(`${why} (D-Bus policy or AppArmor denies access to org.bluez)`, "adapter");
    case "org.bluez.Error.NotReady":
      return new TransportError(`${why} (adapter powered off or blocked by rfkill)`, "adapter");
    case "org.freedesktop.DBus.Error.NoReply":
    case "org.freedesktop.DBus.Error.Timeout":
    case "org.freedesktop.DBus.Error.TimedOut":
    case "org.bluez.Error.InProgress":
      return new TransportError(why, "timeout");
    case "org.bluez.Error.NotConnected":
      return linkLost(why);
    case "org.freedesktop.DBus.Error.UnknownObject":
    case "org.freedesktop.DBus.Error.UnknownMethod":
      // the object vanished (device removed, GATT cache dropped) between two calls
      return fallback === "adapter" ? new TransportError(why, "adapter") : fallback === "not-found" ? new TransportError(why, "not-found") : linkLost(why);
    case "org.bluez.Error.NotSupported":
    case "org.bluez.Error.NotPermitted":
      return fallback === "link-lost" ? new TransportError(why, "gatt-missing") : new TransportError(why, fallback);
    default:
      return new TransportError(why, name ? fallback : "adapter");
  }
}

/** BlueZ's NotPermitted "Notify acquired" / "Write acquired": another D-Bus client holds the characteristic. */
export function acquired(e: unknown): boolean {
  const cause = e instanceof TransportError ? e.cause : e;
  return dbusName(e) === "org.bluez.Error.NotPermitted" && cause instanceof dbus.DBusError && /acquired/i.test(cause.text ?? "");
}
