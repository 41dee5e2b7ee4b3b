/**
 * Noise_NNpsk0_25519_ChaChaPoly_SHA256 on node:crypto (Noise Protocol Framework rev. 34: §5
 * processing rules, §9 PSK modifier; pattern NNpsk0 = `-> psk, e` / `<- e, ee`). ESPHome uses the
 * prologue "NoiseAPIInit\0\0" and empty handshake payloads (aioesphomeapi `_frame_helper/noise.py`).
 * Both roles: the client is the initiator, the test double the responder.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from "node:crypto";

export const PROTOCOL_NAME = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
export const PROLOGUE = Buffer.from("NoiseAPIInit\0\0", "binary");

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
};
/** HKDF as the Noise spec defines it (§4.3): two or three 32-byte outputs. */
function hkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Buffer[] {
  const prk = hmac(ck, ikm);
  const o1 = hmac(prk, Uint8Array.of(1));
  const o2 = hmac(prk, o1, Uint8Array.of(2));
  return n === 2 ? [o1, o2] : [o1, o2, hmac(prk, o2, Uint8Array.of(3))];
}

/** ChaChaPoly nonce: 32 zero bits then the 64-bit counter little-endian (§12.3). */
function nonce(n: bigint): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64LE(n, 4);
  return b;
}

export class NoiseDecryptError extends Error {}

export class CipherState {
  private n = 0n;
  constructor(private readonly k: Buffer) {}
  encrypt(ad: Uint8Array, plain: Uint8Array): Buffer {
    const c = createCipheriv("chacha20-poly1305", this.k, nonce(this.n++), { authTagLength: 16 });
    c.setAAD(ad, { plaintextLength: plain.length });
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  }
  decrypt(ad: Uint8Array, cipher: Uint8Array): Buffer {
    if (cipher.length < 16) throw new NoiseDecryptError("ciphertext shorter than its tag");
    const d = createDecipheriv("chacha20-poly1305", this.k, nonce(this.n), { authTagLength: 16 });
    d.setAAD(ad, { plaintextLength: cipher.length - 16 });
    d.setAuthTag(cipher.subarray(cipher.length - 16));
    try {
      const out = Buffer.concat([d.update(cipher.subarray(0, cipher.length - 16)), d.final()]);
      this.n++;
      return out;
    } catch {
      throw new NoiseDecryptError("authentication tag mismatch");
    }
  }
}

const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");

function keyPair(priv?: Uint8Array): { priv: KeyObject; pub: Buffer } {
  const privateKey = priv ? createPrivateKey({ key: Buffer.concat([PKCS8_X25519, priv]), format: "der", type: "pkcs8" }) : generateKeyPairSync("x25519").privateKey;
  const pub = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
  return { priv: privateKey, pub: Buffer.from(pub) };
}
function dh(priv: KeyObject, pub: Uint8Array): Buffer {
  return diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: Buffer.concat([SPKI_X25519, pub]), format: "der", type: "spki" }) });
}

/** The handshake state of one side; `split()` gives (send, receive) cipher states. */
export class NoiseHandshake {
  private h: Buffer;
  private ck: Buffer;
  private k: CipherState | undefined;
  private readonly e: { priv: KeyObject; pub: Buffer };
  private re: Buffer | undefined;

  constructor(private readonly role: "initiator" | "responder", private readonly psk: Uint8Array, ephemeral?: Uint8Array) {
    if (psk.length !== 32) throw new RangeError("Noise PSK must be 32 bytes");
    this.h = sha256(Buffer.from(PROTOCOL_NAME)); // name longer than 32 bytes: hashed (§5.2)
    this.ck = this.h;
    this.mixHash(PROLOGUE);
    this.e = keyPair(ephemeral);
  }

  private mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data);
  }
  private mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2);
    this.ck = ck as Buffer;
    this.k = new CipherState(k as Buffer);
  }
  private mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, th, k] = hkdf(this.ck, ikm, 3);
    this.ck = ck as Buffer;
    this.mixHash(th as Buffer);
    this.k = new CipherState(k as Buffer);
  }
  private encryptAndHash(plain: Uint8Array): Buffer {
    const c = this.k ? this.k.encrypt(this.h, plain) : Buffer.from(plain);
    this.mixHash(c);
    return c;
  }
  private decryptAndHash(cipher: Uint8Array): Buffer {
    const p = this.k ? this.k.decrypt(this.h, cipher) : Buffer.from(cipher);
    this.mixHash(cipher);
    return p;
  }
  /** Token `e` in a PSK handshake: MixHash and MixKey of the public key (§9.2). */
  private sendE(): Buffer {
    this.mixHash(this.e.pub);
    this.mixKey(this.e.pub);
    return this.e.pub;
  }
  private readE(pub: Uint8Array): void {
    this.re = Buffer.from(pub);
    this.mixHash(pub);
    this.mixKey(pub);
  }

  /** Initiator: `-> psk, e` with an empty payload (32-byte key + 16-byte tag). */
  writeMessage1(): Buffer {
    if (this.role !== "initiator") throw new Error("message 1 is the initiator's");
    this.mixKeyAndHash(this.psk);
    const e = this.sendE();
    return Buffer.concat([e, this.encryptAndHash(new Uint8Array(0))]);
  }
  /** Responder: reads message 1; throws NoiseDecryptError on a wrong PSK. */
  readMessage1(m: Uint8Array): void {
    if (m.length < 48) throw new NoiseDecryptError("handshake message 1 too short");
    this.mixKeyAndHash(this.psk);
    this.readE(m.subarray(0, 32));
    this.decryptAndHash(m.subarray(32));
  }
  /** Responder: `<- e, ee`. */
  writeMessage2(): Buffer {
    const e = this.sendE();
    this.mixKey(dh(this.e.priv, this.re ?? Buffer.alloc(32)));
    return Buffer.concat([e, this.encryptAndHash(new Uint8Array(0))]);
  }
  /** Initiator: reads message 2; throws NoiseDecryptError when the keys disagree. */
  readMessage2(m: Uint8Array): void {
    if (m.length < 48) throw new NoiseDecryptError("handshake message 2 too short");
    this.readE(m.subarray(0, 32));
    this.mixKey(dh(this.e.priv, m.subarray(0, 32)));
    this.decryptAndHash(m.subarray(32));
  }
  /** Transport keys (§5.2 Split): the initiator sends with the first. */
  split(): { send: CipherState; receive: CipherState } {
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2) as [Buffer, Buffer];
    const a = new CipherState(k1);
    const b = new CipherState(k2);
    return this.role === "initiator" ? { send: a, receive: b } : { send: b, receive: a };
  }
}
