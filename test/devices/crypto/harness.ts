// A virtio-crypto driven through the mock driver, the way Linux's virtio_crypto writes its requests: on the
// control queue the request in one readable buffer, the key in a second, room for the answer in one writable
// buffer; on the data queue the request, the IV and the source readable, then the destination and a status byte
// writable, each in its own buffer.
import { GuestMemory } from '../../../src/base/guest-memory';
import { CryptoDevice, type CryptoOptions } from '../../../src/devices/crypto/device';
import {
  CONTROLQ, CTRL, CTRL_REQ_BYTES, DATA, DATA_REQ_BYTES, DATAQ, OP_DECRYPT, OP_ENCRYPT, OPCODE, SYM_OP_CIPHER,
} from '../../../src/devices/crypto/protocol';
import { F_WRITE, MockDriver, mockContext, type Desc } from '../../virtio-mmio/mock-driver';

export const MEM_BYTES = 4 << 20;
export const DST = 0x200000;
export const STATUS_BYTE = 0x300000;
const CTRL_REQ = 0x20000;
const KEY = 0x21000;
const CTRL_ANSWER = 0x22000;
const DATA_REQ = 0x30000;
const IV = 0x31000;
const SRC = 0x100000;

export interface SessionOptions {
  /** What the request says the key length is (default the key's). */
  keyLength?: number;
  opType?: number;
  opcode?: number;
  /** The session's op (default ENCRYPT or DECRYPT as asked). */
  op?: number;
  /** Readable bytes of the request and of the key buffer (default all). */
  requestBytes?: number;
  keyBytes?: number;
  /** Room for the answer (default 16). */
  room?: number;
}

export interface CipherOptions {
  ivLength?: number;
  srcLength?: number;
  dstLength?: number;
  opType?: number;
  /** Readable source bytes the chain holds (default srcLength). */
  srcBytes?: number;
  /** Writable destination bytes the chain holds, before the status byte (default dstLength). */
  dstRoom?: number;
  /** The destination is the source's own memory (in-place, as a driver may ask). */
  inPlace?: boolean;
}

export interface CipherReply { status: number; out: Buffer; len: number }

export function setup(opts: CryptoOptions = {}) {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MEM_BYTES }]);
  const dataq = new MockDriver(64, MEM_BYTES, { mem });
  const ctrlq = new MockDriver(64, MEM_BYTES, { mem, base: 0x10000 });
  const dev = new CryptoDevice(opts);
  const queues = [dataq.queue(), ctrlq.queue()];
  const ctx = mockContext(dev, { memory: mem, queues, features: 1n << 32n });
  dev.activate(ctx);
  let dataUsed = 0;
  let ctrlUsed = 0;

  /** Posts a control chain; the used length, or undefined when the device did not answer. */
  const control = (descs: Desc[]): number | undefined => {
    ctrlq.addChain(descs);
    dev.onQueueNotify(CONTROLQ);
    return ctrlq.usedIdx() === ctrlUsed ? undefined : ctrlq.used(ctrlUsed++).len;
  };

  /** CIPHER_CREATE_SESSION; the ID and status the device answered (undefined: the chain was refused whole). */
  const createSession = (algo: number, key: Buffer, encrypt: boolean, o: SessionOptions = {}) => {
    const req = Buffer.alloc(CTRL_REQ_BYTES);
    req.writeUInt32LE(o.opcode ?? OPCODE.CIPHER_CREATE_SESSION, CTRL.OPCODE);
    req.writeUInt32LE(algo, 4);
    req.writeUInt32LE(algo, CTRL.ALGO);
    req.writeUInt32LE(o.keyLength ?? key.length, CTRL.KEYLEN);
    req.writeUInt32LE(o.op ?? (encrypt ? OP_ENCRYPT : OP_DECRYPT), CTRL.OP);
    req.writeUInt32LE(o.opType ?? SYM_OP_CIPHER, CTRL.OP_TYPE);
    mem.write(CTRL_REQ, req);
    mem.write(KEY, key);
    const room = o.room ?? 16;
    mem.fill(CTRL_ANSWER, Math.max(room, 16), 0xee);
    const descs: Desc[] = [{ addr: CTRL_REQ, len: o.requestBytes ?? CTRL_REQ_BYTES, flags: 0 }];
    const keyBytes = o.keyBytes ?? key.length;
    if (keyBytes > 0) descs.push({ addr: KEY, len: keyBytes, flags: 0 });
    if (room > 0) descs.push({ addr: CTRL_ANSWER, len: room, flags: F_WRITE });
    const len = control(descs);
    if (len === undefined) return undefined;
    const a = Buffer.from(mem.read(CTRL_ANSWER, 16));
    return { id: a.readBigUInt64LE(0), status: a.readUInt32LE(8), len };
  };

  /** CIPHER_DESTROY_SESSION (or another control `opcode`); the status byte, undefined when refused whole. */
  const destroySession = (id: bigint, opcode: number = OPCODE.CIPHER_DESTROY_SESSION, room = 1): number | undefined => {
    const req = Buffer.alloc(CTRL_REQ_BYTES);
    req.writeUInt32LE(opcode, CTRL.OPCODE);
    req.writeBigUInt64LE(id, CTRL.SESSION_ID);
    mem.write(CTRL_REQ, req);
    mem.fill(CTRL_ANSWER, 16, 0xee);
    const descs: Desc[] = [{ addr: CTRL_REQ, len: CTRL_REQ_BYTES, flags: 0 }];
    if (room > 0) descs.push({ addr: CTRL_ANSWER, len: room, flags: F_WRITE });
    return control(descs) === undefined ? undefined : mem.read(CTRL_ANSWER, 1)[0];
  };

  /** A data chain as the request states it; its request bytes are `req` (72 unless cut). */
  const postData = (req: Buffer, iv: Buffer, src: Buffer, srcBytes: number, dstRoom: number, inPlace: boolean,
    notify = true): number => {
    mem.write(DATA_REQ, req);
    mem.write(IV, iv);
    mem.write(SRC, src);
    mem.fill(DST, Math.max(dstRoom, 64), 0xee);
    mem.write(STATUS_BYTE, Uint8Array.of(0xee));
    const descs: Desc[] = [{ addr: DATA_REQ, len: req.length, flags: 0 }];
    if (iv.length > 0) descs.push({ addr: IV, len: iv.length, flags: 0 });
    if (srcBytes > 0) descs.push({ addr: SRC, len: srcBytes, flags: 0 });
    if (dstRoom > 0) descs.push({ addr: inPlace ? SRC : DST, len: dstRoom, flags: F_WRITE });
    descs.push({ addr: STATUS_BYTE, len: 1, flags: F_WRITE });
    const head = dataq.addChain(descs);
    if (notify) dev.onQueueNotify(DATAQ);
    return head;
  };

  const dataRequest = (encrypt: boolean, id: bigint, iv: Buffer, src: Buffer, o: CipherOptions): Buffer => {
    const req = Buffer.alloc(DATA_REQ_BYTES);
    req.writeUInt32LE(encrypt ? OPCODE.CIPHER_ENCRYPT : OPCODE.CIPHER_DECRYPT, DATA.OPCODE);
    req.writeBigUInt64LE(id, DATA.SESSION_ID);
    req.writeUInt32LE(o.ivLength ?? iv.length, DATA.IV_LEN);
    req.writeUInt32LE(o.srcLength ?? src.length, DATA.SRC_LEN);
    const dstLength = o.dstLength ?? o.srcLength ?? src.length;
    req.writeUInt32LE(dstLength, DATA.DST_LEN);
    req.writeUInt32LE(o.opType ?? SYM_OP_CIPHER, DATA.OP_TYPE);
    return req;
  };

  /** CIPHER_ENCRYPT or CIPHER_DECRYPT of `src` with `iv` in session `id`; undefined when the chain was refused. */
  const cipher = (encrypt: boolean, id: bigint, iv: Buffer, src: Buffer, o: CipherOptions = {}): CipherReply | undefined => {
    const req = dataRequest(encrypt, id, iv, src, o);
    const dstRoom = o.dstRoom ?? req.readUInt32LE(DATA.DST_LEN);
    postData(req, iv, src, o.srcBytes ?? src.length, dstRoom, o.inPlace ?? false);
    if (dataq.usedIdx() === dataUsed) return undefined;
    const len = dataq.used(dataUsed++).len;
    const out = Buffer.from(mem.read(o.inPlace === true ? SRC : DST, dstRoom));
    return { status: mem.read(STATUS_BYTE, 1)[0]!, out, len };
  };

  /** Posts a cipher request without notifying (they share the source and destination); its head. */
  const queueCipher = (encrypt: boolean, id: bigint, iv: Buffer, src: Buffer): number =>
    postData(dataRequest(encrypt, id, iv, src, {}), iv, src, src.length, src.length, false, false);

  /** A data request of `bytes` readable bytes (a header cut short) with a status byte. */
  const rawData = (req: Buffer): boolean => {
    postData(req, Buffer.alloc(0), Buffer.alloc(0), 0, 0, false);
    if (dataq.usedIdx() === dataUsed) return false;
    dataUsed++;
    return true;
  };

  return { mem, dataq, ctrlq, dev, ctx, createSession, destroySession, cipher, queueCipher, rawData, control };
}

export type Crypto = ReturnType<typeof setup>;

/** A session that must be made; its ID. */
export function session(c: Crypto, algo: number, key: Buffer, encrypt: boolean): bigint {
  const r = c.createSession(algo, key, encrypt);
  if (r?.status !== 0) throw new Error(`create session for algorithm ${algo} answered ${r?.status}`);
  return r.id;
}

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
