/** Raw, integrity-checked frames as the assembler yields them (no field decoding yet). */

export type ModbusProtocol = "d2" | "p81";

export type RawFrame =
  | {
      family: "a5";
      /** Requests come from a host address (0x20/0x40/0x80…), replies from board n (0x01…). */
      direction: "request" | "reply";
      address: number;
      command: number;
      /** The 8 data bytes. */
      data: Uint8Array;
      bytes: Uint8Array;
    }
  | { family: "modbus"; protocol: ModbusProtocol; kind: "read-request"; register: number; count: number; bytes: Uint8Array }
  | { family: "modbus"; protocol: ModbusProtocol; kind: "read-reply"; data: Uint8Array; bytes: Uint8Array }
  /** Writes seen in a sniffed stream (the phone app's): recognised only so they are skipped cleanly. */
  | { family: "modbus"; protocol: ModbusProtocol; kind: "write"; functionCode: number; register: number; bytes: Uint8Array }
  | { family: "modbus"; protocol: ModbusProtocol; kind: "exception"; functionCode: number; code: number; bytes: Uint8Array };

export type RejectReason =
  | "garbage" // bytes that cannot start a frame (AT answers, noise)
  | "checksum" // A5 sum8 mismatch
  | "crc" // Modbus CRC mismatch
  | "length" // A5 length byte not 08, Modbus odd/zero length
  | "address" // A5 address byte neither a host nor a board
  | "truncated"; // stream ended inside a frame

export interface Reject {
  reason: RejectReason;
  /** Number of bytes dropped. */
  bytes: number;
}

export type AssemblerItem = { ok: true; frame: RawFrame } | { ok: false; reject: Reject };
