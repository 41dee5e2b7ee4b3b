/**
 * Several boards on one RS485 line: one open port shared by one link per board. Legacy A5 boards
 * are addressed from 0x3F + n and answer from address n (daly-protocol.md §2.1, DSB); 0x81 boards
 * are asked at 0x80 + n and answer from 0x50 + n (daly/constants.ts). Replies are framed here
 * and each complete reply frame goes only to the link of the board it comes from;
 * request echoes (half-duplex adapters), frames of unconfigured boards and anything that fails its
 * checksum (two boards talking at once) are dropped, so a collision or a silent board costs its
 * poll a timeout, as on BLE. Requests go out one at a time, spaced on the line (not per board), by
 * the shared SerialLink; the bridge polls one BMS at a time per transport (runtime/adapter-queue).
 */
import type { BleLink } from "../link.js";
import { linkLost, TransportError } from "../errors.js";
import { LinkEvents } from "../link-events.js";
import { FrameAssembler } from "../../daly/assembler.js";
import { isP81Reply } from "../../daly/constants.js";
import type { RawFrame } from "../../daly/frame.js";
import type { SerialLink } from "./serial-link.js";



export class SerialBus {
  private readonly boards = new Map<number, BoardLink>();
  private asm = new FrameAssembler();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly line: SerialLink,
    readonly path: string,
    private readonly onEmpty: (bus: SerialBus) => void,
  ) {
    line.onData((chunk) => this.route(chunk));
    line.onClose((e) => {
      const links = [...this.boards.values()];
      this.boards.clear();
      for (const l of links) l.end(e);
      this.onEmpty(this);
    });
  }

  get isOpen(): boolean {
    return this.line.isOpen;
  }

  /** The link of board `board`; one per board at a time. */
  attach(address: string, board: number): BoardLink {
    const held = this.boards.get(board);
    if (held?.isOpen) throw new TransportError(`board ${board} on ${this.path} is already open (for ${held.address})`, "adapter");
    const link = new BoardLink(address, board, this);
    this.boards.set(board, link);
    return link;
  }

  private route(chunk: Uint8Array): void {
    for (const it of this.asm.push(chunk)) {
      if (!it.ok) continue; // garbage, collisions: the waiting poll times out
      this.boards.get(replyBoard(it.frame) ?? 0)?.deliver(it.frame.bytes);
    }
  }

  /** Writes one board's request; a fresh assembler from here, so no stale fragment joins a reply. */
  async write(bytes: Uint8Array): Promise<void> {
    this.asm = new FrameAssembler({ p81Boards: [...this.boards.keys()] });
    await this.line.write(bytes);
  }

  /** A board's link closed; the port is released with the last one. */
  async detach(link: BoardLink): Promise<void> {
    if (this.boards.get(link.board) === link) this.boards.delete(link.board);
    if (this.boards.size > 0) return;
    this.onEmpty(this);
    await this.close();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const links = [...this.boards.values()];
      this.boards.clear();
      for (const l of links) l.end(linkLost(`serial port ${this.path} closed by the bridge`));
      await this.line.close();
    })();
    return this.closing;
  }
}

/** The board a reply frame comes from; undefined for requests (echoes) and D2 frames (no board address). */
function replyBoard(f: RawFrame): number | undefined {
  if (f.family === "a5") return f.direction === "reply" ? f.address : undefined;
  const from = f.bytes[0] ?? 0;
  return f.protocol === "p81" && f.kind !== "read-request" && f.kind !== "write" && isP81Reply(from) ? from - 0x50 : undefined;
}

/** One board's BleLink on a shared line: sees only that board's replies. */
export class BoardLink implements BleLink {
  private readonly ev = new LinkEvents();
  private closing: Promise<void> | undefined;

  constructor(
    readonly address: string,
    readonly board: number,
    private readonly bus: SerialBus,
  ) {}

  get isOpen(): boolean {
    return this.ev.open && this.bus.isOpen;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.isOpen) throw linkLost(`write to board ${this.board} on a closed serial line ${this.bus.path}`);
    await this.bus.write(bytes);
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.ev.onData(listener);
  }

  onClose(listener: (reason: Error) => void): () => void {
    return this.ev.onClose(listener);
  }

  deliver(frame: Uint8Array): void {
    this.ev.emitData(frame);
  }

  end(reason: Error): void {
    this.ev.end(reason);
  }

  /** Idempotent, bounded (the line's close is), never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.ev.end(linkLost(`board ${this.board} on ${this.bus.path} closed by the bridge`));
      await this.bus.detach(this);
    })();
    return this.closing;
  }
}
