/**
 * The virtual controller spoken to in raw HCI bytes, without noble: answers a real controller
 * gives that noble's normal path never provokes (ble-noble.md §5 H7, Command Disallowed), the
 * connection-update path (noble sends it only in user-channel mode), and byte layouts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { addressToBytes, OP } from "../../src/sim/hci/h4.js";
import { createVirtualHci, type VirtualHciSocket } from "../../src/sim/hci/index.js";
import { loadNoble, shutdown } from "../../src/transport/noble/noble-loader.js";
import { ADDR, spec, waitState, within } from "../helpers/hci-harness.js";

/** Raw HCI host: writes commands, waits for the first event matching a predicate. */
class RawHost {
  private readonly events: Buffer[] = [];
  private wake: (() => void) | undefined;

  constructor(readonly socket: VirtualHciSocket) {
    socket.bindRaw(0);
    socket.start();
    socket.on("data", (p) => {
      this.events.push(p);
      this.wake?.();
    });
  }

  command(opcode: number, params: number[] = []): void {
    this.socket.write(Buffer.from([0x01, opcode & 0xff, opcode >> 8, params.length, ...params]));
  }

  next(match: (p: Buffer) => boolean, what: string): Promise<Buffer> {
    return within(
      1000,
      what,
      new Promise<Buffer>((resolve) => {
        const check = (): void => {
          const i = this.events.findIndex(match);
          if (i < 0) return;
          this.wake = undefined;
          resolve(this.events.splice(i, 1)[0] ?? Buffer.alloc(0));
        };
        this.wake = check;
        check();
      }),
    );
  }

  /** Command Status (04 0f) or Command Complete (04 0e) for an opcode. */
  answer(opcode: number): Promise<Buffer> {
    const status = (p: Buffer): boolean => p[1] === 0x0f && p.readUInt16LE(5) === opcode;
    const complete = (p: Buffer): boolean => p[1] === 0x0e && p.readUInt16LE(4) === opcode;
    return this.next((p) => p[0] === 0x04 && (status(p) || complete(p)), `answer to 0x${opcode.toString(16)}`);
  }

  leMeta(subevent: number): Promise<Buffer> {
    return this.next((p) => p[0] === 0x04 && p[1] === 0x3e && p[3] === subevent, `LE meta 0x${subevent.toString(16)}`);
  }
}

/** The 25 LE Create Connection parameter bytes noble writes (hci.js createLeConn). */
function createParams(address: string): number[] {
  return [0x60, 0, 0x30, 0, 0, 0, ...addressToBytes(address), 0, 6, 0, 0x12, 0, 0, 0, 0x2a, 0, 4, 0, 6, 0];
}

test("raw HCI: refusals a real controller gives", async (t) => {
  const { socketFactory, controller } = createVirtualHci([spec({ faults: { connectHang: true } })]);
  const host = new RawHost(socketFactory());
  t.after(() => {
    host.socket.close();
    controller.stop();
  });
  host.command(OP.DISCONNECT, [0, 0, 0x13]); // H7: noble's disconnect of a peripheral that is not connected
  assert.equal((await host.answer(OP.DISCONNECT)).toString("hex"), "040f0402010604", "Command Status 0x02");

  host.command(OP.LE_CREATE_CONN, createParams(ADDR));
  assert.equal((await host.answer(OP.LE_CREATE_CONN)).toString("hex"), "040f0400010d20");
  host.command(OP.LE_CREATE_CONN, createParams(ADDR));
  assert.equal((await host.answer(OP.LE_CREATE_CONN)).toString("hex"), "040f040c010d20", "one initiation at a time");

  host.command(OP.LE_SET_SCAN_ENABLE, [1, 1]);
  await host.answer(OP.LE_SET_SCAN_ENABLE);
  host.command(OP.LE_SET_SCAN_PARAMETERS, [1, 0x12, 0, 0x12, 0, 0, 0]);
  assert.equal((await host.answer(OP.LE_SET_SCAN_PARAMETERS))[6], 0x0c, "no parameter change while scanning");

  host.command(0x2019); // LE Start Encryption: not implemented → Unknown HCI Command
  assert.equal((await host.answer(0x2019))[6], 0x01);
  assert.equal(controller.counters.unknownCommands, 1);
});

test("raw HCI: connect, connection update, RSSI, ACL reassembly, disconnect", async (t) => {
  const got: Buffer[] = [];
  const { socketFactory, controller } = createVirtualHci([
    spec({ rssi: -42, onWrite: (d) => void got.push(Buffer.from(d)) }),
  ]);
  const host = new RawHost(socketFactory());
  t.after(() => {
    host.socket.close();
    controller.stop();
  });
  host.command(OP.LE_READ_BUFFER_SIZE);
  assert.equal((await host.answer(OP.LE_READ_BUFFER_SIZE)).toString("hex"), "040e07010220001b0004");

  host.command(OP.LE_CREATE_CONN, createParams(ADDR));
  const cc = await host.leMeta(0x01);
  assert.equal(cc[4], 0, "status");
  const handle = cc.readUInt16LE(5);
  assert.equal(handle, 0x40);
  assert.equal(cc.subarray(9, 15).toString("hex"), addressToBytes(ADDR).toString("hex"));

  host.command(OP.LE_CONN_UPDATE, [handle, 0, 0x18, 0, 0x28, 0, 0, 0, 0x48, 0, 0, 0, 0, 0]);
  assert.equal((await host.answer(OP.LE_CONN_UPDATE))[3], 0);
  const upd = await host.leMeta(0x03);
  assert.equal(upd.readUInt16LE(5), handle);
  assert.equal(upd.readUInt16LE(7), 0x28, "new interval");

  host.command(OP.READ_RSSI, [handle, 0]);
  assert.equal((await host.answer(OP.READ_RSSI)).readInt8(9), -42);

  // ATT Write Command to handle 9 (fff2 value) split over two ACL packets: start + continuation
  const l2cap = Buffer.from([7, 0, 4, 0, 0x52, 9, 0, 0xa5, 0x80, 0x90, 0x08]);
  host.socket.write(Buffer.concat([Buffer.from([0x02, handle, 0x00, 6, 0]), l2cap.subarray(0, 6)]));
  host.socket.write(Buffer.concat([Buffer.from([0x02, handle, 0x10, 5, 0]), l2cap.subarray(6)]));
  const nocp = await host.next((p) => p[0] === 0x04 && p[1] === 0x13, "Number Of Completed Packets");
  assert.equal(nocp.toString("hex"), "0413050140000200");
  assert.deepEqual(got, [Buffer.from([0xa5, 0x80, 0x90, 0x08])]);

  host.command(OP.DISCONNECT, [handle, 0, 0x13]);
  assert.equal((await host.answer(OP.DISCONNECT))[3], 0);
  const dc = await host.next((p) => p[0] === 0x04 && p[1] === 0x05, "Disconnection Complete");
  assert.equal(dc.toString("hex"), "04050400400016");
  assert.deepEqual(controller.connectedHandles(), []);
});

test("EPERM on every write (no CAP_NET_RAW) makes noble report unauthorized", async () => {
  const { socketFactory, controller } = createVirtualHci([spec()]);
  controller.permissionDenied = true;
  const noble = loadNoble({ socketFactory });
  try {
    await waitState(noble, "unauthorized");
  } finally {
    await shutdown(noble);
    controller.stop();
  }
});
