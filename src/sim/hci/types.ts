/**
 * Public types of the virtual HCI controller: the peripheral model (the seam to the Daly battery
 * responder), fault hooks and the timing model.
 *
 * The controller keeps a reference to each spec object and reads `faults` and `timing` live, so a
 * test may mutate them (or assign new objects) between polls. The only value fixed at connection
 * time is the connection-event period (`connectionIntervalMs`).
 */

export type GattLayout = "fff0" | "ff00";

export interface SimFaults {
  /** Never advertises; LE Create Connection never completes (until cancelled). A live link is lost (0x08) at its next connection event. */
  outOfRange?: boolean;
  /**
   * LE Create Connection gets Command Status 0x00 but no LE Connection Complete until the host
   * cancels; then Connection Complete with status 0x02, as real controllers do (ble-noble.md §5 H2/H2b).
   */
  connectHang?: boolean;
  /** The n-th write to the TX characteristic on a connection is swallowed and the link is lost (Disconnection Complete 0x08, H3). */
  linkLossAfterWrites?: number;
  /** Write Requests to TX are answered with this ATT error code (H4). Write Commands have no response channel and are dropped. */
  attErrorOnWrite?: number;
  /** Exchange MTU is answered with ATT error 0x04 Invalid PDU (H5: stalls noble's whole GATT queue). */
  mtuInvalidPdu?: boolean;
  /**
   * Drops Handle Value Notification PDUs. A value in (0,1) is a per-PDU probability (seeded PRNG,
   * deterministic); an integer >= 1 drops the next N PDUs and is decremented here as they are dropped.
   */
  dropNotifications?: number;
  /** Inverts the last byte of every notification PDU (checksums then fail). */
  garbleNotifications?: boolean;
  /** Notification chunk size (bytes of value per PDU), capped at ATT_MTU - 3. */
  splitNotifications?: number;
  /** Coalesces values the responder notified before the same connection event into one stream before chunking. */
  mergeNotifications?: boolean;
  /** Advertises, connects and does GATT, but the BMS behind the BLE module never answers: onWrite is not called. */
  sleeping?: boolean;
  /**
   * Another host on this controller (bluetoothd, for Home Assistant) already holds a link to it:
   * it is seen advertising, but LE Create Connection gets Command Status 0x0B "ACL Connection
   * Already Exists" (Core Vol 1 Part F), the one case where the controller tells.
   */
  connectedElsewhere?: boolean;
}

export interface SimTiming {
  /**
   * Connection-event period. Every link runs a timer with this period; at each event the
   * controller (1) takes the PDUs the peripheral had ready before the event, (2) hands the host's
   * buffered ACL packets to the peripheral and reports them in Number Of Completed Packets, (3)
   * delivers (1) to the host. A request therefore gets its response two events later at most,
   * like a slave that answers in the next event. Default 30 ms. Read when a link comes up.
   */
  connectionIntervalMs?: number;
  /** BMS processing delay: the simulator holds every `notify` call this long before queueing it. Default 0. */
  replyDelayMs?: number;
  /** Advertising period while the host scans; also the delay until LE Connection Complete. Default 100 ms. */
  advertisingIntervalMs?: number;
}

export interface SimPeripheralSpec {
  /** "C0:D6:3C:57:2A:01" */
  address: string;
  /** Complete local name sent in the scan response, e.g. "DL-C0D63C572A01". */
  name: string;
  /** dBm in advertising reports and Read RSSI. Default -60. */
  rssi?: number;
  gattLayout?: GattLayout;
  /** Server Rx MTU answered to Exchange MTU. Default 23; the effective ATT_MTU is min(client, server). */
  mtu?: number;
  /** Called for every write to the TX characteristic (fff2/ff02); reply by calling notify (any number of times, any time later). */
  onWrite(data: Uint8Array, notify: (bytes: Uint8Array) => void): void;
  faults?: SimFaults;
  timing?: SimTiming;
  /** Default "public". */
  addressType?: "public" | "random";
  /** Manufacturer-specific AD payload (company id first). Default: 0x0102 (LE) followed by the address bytes. */
  manufacturerData?: Uint8Array;
  /** Whether ADV_IND lists the 16-bit service UUID (some Daly modules do not, ble-noble.md §2.2). Default true. */
  advertiseServiceUuid?: boolean;
}

export interface VirtualHciOptions {
  /** Adapter BD_ADDR returned by Read BD_ADDR. Default "00:11:22:33:44:55". */
  address?: string;
  /** LE ACL data packet length returned by LE Read Buffer Size. Default 27 (no data length extension). */
  aclBufferLength?: number;
  /** LE ACL buffer count. Default 4; noble keeps at most this many packets in flight. */
  aclBufferCount?: number;
  /** HCI version from Read Local Version; noble reports "unsupported" below 6 (4.0). Default 9 (5.0). */
  hciVersion?: number;
  /** Defaults for every peripheral; a spec's own `timing` wins per field. */
  timing?: SimTiming;
  /** Seed for the notification-drop PRNG. Default 1. */
  seed?: number;
}

export interface HciCounters {
  /** H4 packets the host wrote (commands + ACL). */
  hostToController: number;
  /** H4 packets delivered to the host (events + ACL). */
  controllerToHost: number;
  commands: number;
  aclFromHost: number;
  aclToHost: number;
  /** Host ACL packets longer than the advertised LE buffer length (a host bug). */
  aclOversize: number;
  /** Times the host had more packets in flight than the advertised buffer count (a host bug). */
  aclOverflow: number;
  /** Highest number of host ACL packets buffered and not yet completed. */
  maxAclInFlight: number;
  unknownCommands: number;
}

export interface PeripheralCounters {
  advertisingReports: number;
  connections: number;
  /** Writes to the TX characteristic (requests + commands), including swallowed ones. */
  writes: number;
  /** Writes handed to onWrite. */
  writesDelivered: number;
  notificationsSent: number;
  notificationsDropped: number;
  /** notify() while the host had not enabled the CCCD (a real server must not send then). */
  notificationsSuppressed: number;
  /** notify() with no link: the reply is lost. */
  notificationsNoLink: number;
  lastDisconnectReason?: number;
  /** ATT request opcodes received on the last/current link, in order. */
  attOpcodes: number[];
  /** The ATT_MTU negotiated on the last/current link. */
  mtu: number;
}
