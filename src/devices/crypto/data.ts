// The data queue: CIPHER_ENCRYPT and CIPHER_DECRYPT through a session. The request's numbers are checked against
// the session and the device's caps before any data is read, so a request costs at most max_size bytes of cipher
// work; a refused request writes only its status byte, and a request either writes its whole output or none.
import { QueueError, type DescriptorChain } from '../../virtio-mmio/queue';
import { gather, scatter, scatterAll, sliceSegments } from '../../virtio-mmio/segments';
import { runCipher } from './ciphers';
import { DATA, DATA_REQ_BYTES, OPCODE, STATUS, SYM_OP_CIPHER, type Status } from './protocol';
import type { SessionTable } from './sessions';

export interface DataAnswer {
  status: Status;
  /** The used length: the bytes written from the start of the writable part on. */
  written: number;
  /** Bytes run through a cipher (0 when refused). */
  bytes: number;
  encrypt: boolean;
}

interface Checked { encrypt: boolean; ivLength: number; length: number }

/**
 * Checks a request's numbers against its session and the caps: the status that refuses it, or what to run. A
 * request carries as much destination as source (a cipher's output is as long as its input). A cipher request is
 * answered OK, NOTSUPP, INVSESS or ERR (virtio 1.2, 5.9): BADMSG is an AEAD's failed authentication.
 */
function check(sessions: SessionTable, req: Buffer, maxSize: number): Checked | Status {
  const opcode = req.readUInt32LE(DATA.OPCODE);
  if (opcode !== OPCODE.CIPHER_ENCRYPT && opcode !== OPCODE.CIPHER_DECRYPT) return STATUS.NOTSUPP;
  if (req.readUInt32LE(DATA.OP_TYPE) !== SYM_OP_CIPHER) return STATUS.NOTSUPP;
  const session = sessions.get(req.readBigUInt64LE(DATA.SESSION_ID));
  if (session === undefined) return STATUS.INVSESS;
  const encrypt = opcode === OPCODE.CIPHER_ENCRYPT;
  // A session is made for one direction (its op); the request must ask for that one.
  if (encrypt !== session.encrypt) return STATUS.ERR;
  const ivLength = req.readUInt32LE(DATA.IV_LEN);
  const length = req.readUInt32LE(DATA.SRC_LEN);
  if (ivLength !== session.ivLength || req.readUInt32LE(DATA.DST_LEN) !== length) return STATUS.ERR;
  if (ivLength + 2 * length + 1 > maxSize) return STATUS.ERR;
  if (!session.takes(length)) return STATUS.ERR;
  return { encrypt, ivLength, length };
}

/** Runs one data request; throws QueueError for a chain that cannot hold the request it states or its answer. */
export function runData(sessions: SessionTable, chain: DescriptorChain, maxSize: number): DataAnswer {
  const req = gather(chain.readable, DATA_REQ_BYTES);
  if (req === undefined || chain.writableBytes < 1) {
    throw new QueueError('E_LEN', `a crypto data request needs ${DATA_REQ_BYTES} device-readable bytes and a ` +
      `status byte, the chain has ${chain.readableBytes} and ${chain.writableBytes}`, chain.head);
  }
  const statusAt = chain.writableBytes - 1;
  const c = check(sessions, req, maxSize);
  if (typeof c === 'number') {
    scatter(chain.writable, statusAt, Uint8Array.of(c));
    return { status: c, written: statusAt === 0 ? 1 : 0, bytes: 0, encrypt: false };
  }
  const readable = DATA_REQ_BYTES + c.ivLength + c.length;
  if (chain.readableBytes < readable || statusAt < c.length) {
    throw new QueueError('E_LEN', `a crypto data request of ${c.length} bytes with a ${c.ivLength}-byte IV needs ` +
      `${readable} device-readable and ${c.length + 1} device-writable bytes, the chain has ${chain.readableBytes} ` +
      `and ${chain.writableBytes}`, chain.head);
  }
  const iv = gather(sliceSegments(chain.readable, DATA_REQ_BYTES, c.ivLength), c.ivLength)!;
  const session = sessions.get(req.readBigUInt64LE(DATA.SESSION_ID))!;
  const output = runCipher(session, iv, sliceSegments(chain.readable, DATA_REQ_BYTES + c.ivLength, c.length));
  scatterAll(chain.writable, 0, output);
  scatter(chain.writable, statusAt, Uint8Array.of(STATUS.OK));
  // The status byte is part of the written prefix only when it follows the output directly.
  return { status: STATUS.OK, written: statusAt === c.length ? c.length + 1 : c.length, bytes: c.length,
    encrypt: c.encrypt };
}
