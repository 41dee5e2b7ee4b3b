/**
 * src/transport/noble/adapter-address.ts and by-address.ts: an adapter named by its Bluetooth
 * address is found among the adapters by a read-only Read BD_ADDR (opcode 0x1009, nothing else),
 * on the simulator's virtual controllers; unknown addresses fail clearly; the index is looked up
 * again after an adapter failure (a replugged adapter gets a new index).
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { findAdapterIndex, nativeHciDevices, readBdAddrFilter, type HciDevices } from "../../src/transport/noble/adapter-address.js";
import { AdapterByAddress } from "../../src/transport/noble/by-address.js";
import type { HciSocketLike } from "../../src/transport/noble/noble-types.js";
import { TransportError } from "../../src/transport/errors.js";
import type { Advert, BleLink, BleTransport, LinkTarget } from "../../src/transport/link.js";
import { createVirtualHci, type VirtualHci, type VirtualHciSocket } from "../../src/sim/hci/index.js";

const ADDR0 = "00:11:22:33:44:55";
const ADDR1 = "5C:F3:70:A1:B2:C3";

/** Virtual controllers by index, as the kernel would list them; every socket handed out is kept. */
function rig(addresses: string[]): { hcis: VirtualHci[]; devices: HciDevices; sockets: VirtualHciSocket[] } {
  const hcis = addresses.map((address) => createVirtualHci([], { address }));
  const sockets: VirtualHciSocket[] = [];
  const devices: HciDevices = {
    list: () => hcis.map((h, devId) => ({ devId, devUp: h.controller.isPowered })),
    socket: (devId) => {
      const h = hcis[devId];
      if (!h) throw new Error(`no hci${devId}`);
      const s = h.socketFactory();
      sockets.push(s);
      return s;
    },
  };
  return { hcis, devices, sockets };
}

const stop = (hcis: VirtualHci[]): void => hcis.forEach((h) => h.controller.stop());

describe("adapter lookup by address (noble)", () => {
  it("finds the second controller by its address (any case), sending only Read BD_ADDR", async () => {
    const { hcis, devices, sockets } = rig([ADDR0, ADDR1]);
    try {
      assert.equal(await findAdapterIndex(ADDR1.toLowerCase(), devices), 1);
      assert.equal(await findAdapterIndex(ADDR0, devices), 0);
      for (const h of hcis) assert.deepEqual([...h.controller.commandsSeen], [[0x1009, 2]], "only opcode 0x1009, once per lookup");
      // raw sockets, filtered to the Command Complete of 0x1009, all detached again
      assert.equal(sockets.length, 4);
      for (const s of sockets) {
        assert.equal(s.bindMode, "raw");
        assert.deepEqual(s.filter, readBdAddrFilter());
        assert.equal(s.listenerCount("data"), 0);
      }
      assert.deepEqual([...readBdAddrFilter()], [0x10, 0, 0, 0, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0x09, 0x10]);
    } finally {
      stop(hcis);
    }
  });

  it("an unknown address fails with an adapter error naming the address and the adapters found", async () => {
    const { hcis, devices } = rig([ADDR0, ADDR1]);
    try {
      await assert.rejects(findAdapterIndex("aa:bb:cc:dd:ee:ff", devices), (e: unknown) => {
        assert.ok(e instanceof TransportError);
        assert.equal(e.kind, "adapter");
        assert.equal(e.message, `no Bluetooth adapter with address AA:BB:CC:DD:EE:FF (adapters found: hci0 ${ADDR0}, hci1 ${ADDR1})`);
        return true;
      });
      await assert.rejects(findAdapterIndex(ADDR1, { list: () => [], socket: () => assert.fail("no socket without adapters") }), /no Bluetooth adapter with address 5C:F3:70:A1:B2:C3 \(adapters found: none\)/);
    } finally {
      stop(hcis);
    }
  });

  it("a powered-off adapter is reported down; a silent one is bounded by the timeout", async () => {
    const { hcis, devices } = rig([ADDR0, ADDR1]);
    hcis[1]?.controller.setPowered(false);
    try {
      await assert.rejects(findAdapterIndex(ADDR1, devices), /adapters found: hci0 00:11:22:33:44:55, hci1 down \(ENETDOWN, Network is down\)\)$/);
      // a socket that never answers
      const silent = Object.assign(new EventEmitter(), { bindRaw: () => 0, bindUser: () => 0, start() {}, stop() {}, isDevUp: () => true, setFilter() {}, write() {} });
      const t0 = performance.now();
      await assert.rejects(
        findAdapterIndex(ADDR1, { list: () => [{ devId: 3, devUp: true }], socket: () => silent as unknown as HciSocketLike }, { timeoutMs: 200 }),
        /hci3 no answer to Read BD_ADDR within 200 ms/,
      );
      assert.ok(performance.now() - t0 < 5000);
      assert.equal(silent.listenerCount("data"), 0);
    } finally {
      stop(hcis);
    }
  });

  it("on a host without Bluetooth the native lookup fails with a clear adapter error", async () => {
    await assert.rejects(findAdapterIndex("00:1A:7D:DA:71:13", nativeHciDevices(), { timeoutMs: 500 }), (e: unknown) => {
      assert.ok(e instanceof TransportError && e.kind === "adapter");
      assert.match(e.message, /^no Bluetooth adapter with address 00:1A:7D:DA:71:13/);
      return true;
    });
  });
});

/** A transport that records opens and fails them as told. */
class Stub implements BleTransport {
  readonly kind = "stub";
  opens = 0;
  fail: TransportError | undefined;
  constructor(readonly index: number) {}
  scan(): Promise<Advert[]> {
    return Promise.resolve([]);
  }
  open(_t: LinkTarget): Promise<BleLink> {
    this.opens += 1;
    return Promise.reject(this.fail ?? new TransportError("stub has no links", "not-found"));
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe("AdapterByAddress", () => {
  it("looks the index up at first use, keeps it across ordinary failures, and looks again after an adapter failure", async () => {
    // hci1 has the address; after a "replug" it is hci2
    const { hcis, devices } = rig([ADDR0, ADDR1, "00:00:00:00:00:01"]);
    const stubs = new Map<number, Stub>();
    const t = new AdapterByAddress("stub", ADDR1, devices, (i) => {
      const s = new Stub(i);
      stubs.set(i, s);
      return s;
    });
    try {
      assert.equal(t.lookups, 0, "nothing is looked up before first use");
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /stub has no links/);
      assert.equal(t.index, 1);
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /stub has no links/);
      assert.equal(t.lookups, 1, "not-found does not repeat the lookup");
      const s1 = stubs.get(1);
      assert.ok(s1);
      s1.fail = new TransportError("Bluetooth adapter did not power on", "adapter");
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /did not power on/);
      assert.equal(t.index, undefined);
      // replug: the address now answers on hci2, hci1 has another one
      for (const h of hcis.splice(1, 2, createVirtualHci([], { address: "00:00:00:00:00:02" }), createVirtualHci([], { address: ADDR1 }))) h.controller.stop();
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /stub has no links/);
      assert.equal(t.lookups, 2);
      assert.equal(t.index, 2);
      assert.equal(stubs.get(2)?.opens, 1);
      assert.equal(s1.opens, 3);
    } finally {
      stop(hcis);
    }
  });

  it("a failed lookup is not cached: the next operation looks again", async () => {
    const { hcis, devices } = rig([ADDR0]);
    const t = new AdapterByAddress("stub", ADDR1, devices, (i) => new Stub(i));
    try {
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /no Bluetooth adapter with address 5C:F3:70:A1:B2:C3 \(adapters found: hci0 00:11:22:33:44:55\)/);
      hcis.push(createVirtualHci([], { address: ADDR1 }));
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /stub has no links/);
      assert.equal(t.index, 1);
      assert.equal(t.lookups, 2);
    } finally {
      stop(hcis);
    }
  });

  it("keeps the last index while that adapter is listed but cannot answer (down)", async () => {
    const { hcis, devices } = rig([ADDR0, ADDR1]);
    const stubs: Stub[] = [];
    const t = new AdapterByAddress("stub", ADDR1, devices, (i) => {
      const s = new Stub(i);
      s.fail = new TransportError("adapter gone", "adapter");
      stubs.push(s);
      return s;
    });
    try {
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /adapter gone/);
      hcis[1]?.controller.setPowered(false);
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /adapter gone/);
      assert.equal(t.lookups, 2);
      assert.equal(t.index, undefined);
      assert.deepEqual(stubs.map((s) => s.index), [1, 1], "hci1 again, though it did not answer");
      // hci1 answers again, with another address (another dongle got the index): not kept
      for (const h of hcis.splice(1, 1, createVirtualHci([], { address: "00:00:00:00:00:02" }))) h.controller.stop();
      await assert.rejects(t.open({ address: "C0:D6:3C:57:2C:01" }), /no Bluetooth adapter with address 5C:F3:70:A1:B2:C3 \(adapters found: hci0 00:11:22:33:44:55, hci1 00:00:00:00:00:02\)/);
      assert.equal(stubs.length, 2);
    } finally {
      stop(hcis);
    }
  });
});
