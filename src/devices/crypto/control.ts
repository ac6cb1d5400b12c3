// The control queue: CIPHER_CREATE_SESSION and CIPHER_DESTROY_SESSION. A create is answered a
// virtio_crypto_session_input (the new ID and a status), a destroy a status byte; the other services' create
// opcodes are answered NOTSUPP in their own format, so a driver that tries them learns they are not offered.
import { QueueError, type DescriptorChain } from '../../virtio-mmio/queue';
import { gather } from '../../virtio-mmio/segments';
import { ALGORITHMS, cipherSession, MAX_CIPHER_KEY_LEN } from './ciphers';
import {
  CREATE_OPCODES, CTRL, CTRL_REQ_BYTES, OP_DECRYPT, OP_ENCRYPT, OPCODE, SESSION_INPUT_BYTES, STATUS, SYM_OP_CIPHER,
  type Status,
} from './protocol';
import type { SessionTable } from './sessions';

export interface ControlAnswer {
  /** The bytes written at the start of the chain's writable part. */
  reply: Buffer;
  status: Status;
  /** Why an ERR was answered, where the status alone does not say: the counter it goes to. */
  reason?: 'invalidSessions' | 'noSpace';
  /** What a create did to the session count: +1 made, -1 destroyed. */
  sessions: number;
}

/** The first `bytes` of the request; a chain that holds fewer is broken. */
function readRequest(chain: DescriptorChain, bytes: number, what: string): Buffer {
  const b = gather(chain.readable, bytes);
  if (b === undefined) {
    throw new QueueError('E_LEN', `a crypto ${what} needs ${bytes} device-readable bytes, the chain has ` +
      `${chain.readableBytes}`, chain.head);
  }
  return b;
}

function sessionInput(status: Status, id = 0n): Buffer {
  const b = Buffer.alloc(SESSION_INPUT_BYTES);
  b.writeBigUInt64LE(id, 0);
  b.writeUInt32LE(status, 8);
  return b;
}

/**
 * Runs one control request. The chain must hold the whole request (and a create's key) and room for the whole
 * answer; one that does not is broken (QueueError), never half served.
 */
export function runControl(sessions: SessionTable, chain: DescriptorChain): ControlAnswer {
  const req = readRequest(chain, CTRL_REQ_BYTES, 'control request');
  const op = req.readUInt32LE(CTRL.OPCODE);
  const creates = CREATE_OPCODES.has(op);
  const room = creates ? SESSION_INPUT_BYTES : 1;
  if (chain.writableBytes < room) {
    throw new QueueError('E_LEN', `a crypto control request 0x${op.toString(16)} is answered ${room} bytes, the ` +
      `chain has room for ${chain.writableBytes}`, chain.head);
  }
  if (op === OPCODE.CIPHER_CREATE_SESSION) return create(sessions, chain, req);
  if (op === OPCODE.CIPHER_DESTROY_SESSION) {
    // A destroy is answered OK or ERR (virtio 1.2, 5.9): INVSESS is for data requests.
    if (sessions.delete(req.readBigUInt64LE(CTRL.SESSION_ID))) {
      return { reply: Buffer.from([STATUS.OK]), status: STATUS.OK, sessions: -1 };
    }
    return { reply: Buffer.from([STATUS.ERR]), status: STATUS.ERR, reason: 'invalidSessions', sessions: 0 };
  }
  // Hash, MAC, AEAD and akcipher are not offered (crypto_services), and no other opcode exists.
  return { reply: creates ? sessionInput(STATUS.NOTSUPP) : Buffer.from([STATUS.NOTSUPP]), status: STATUS.NOTSUPP,
    sessions: 0 };
}

function create(sessions: SessionTable, chain: DescriptorChain, req: Buffer): ControlAnswer {
  const refuse = (status: Status, reason?: ControlAnswer['reason']): ControlAnswer =>
    ({ reply: sessionInput(status), status, sessions: 0, ...(reason === undefined ? {} : { reason }) });
  // Only a plain cipher: algorithm chaining (cipher and hash in one session) is not offered.
  if (req.readUInt32LE(CTRL.OP_TYPE) !== SYM_OP_CIPHER) return refuse(STATUS.NOTSUPP);
  const algo = req.readUInt32LE(CTRL.ALGO);
  if (!ALGORITHMS.has(algo)) return refuse(STATUS.NOTSUPP);
  const keyLength = req.readUInt32LE(CTRL.KEYLEN);
  const direction = req.readUInt32LE(CTRL.OP);
  if (direction !== OP_ENCRYPT && direction !== OP_DECRYPT) return refuse(STATUS.ERR);
  // Checked before the key is read, so what is read is bounded by max_cipher_key_len.
  if (keyLength === 0 || keyLength > MAX_CIPHER_KEY_LEN) return refuse(STATUS.ERR);
  const key = readRequest(chain, CTRL_REQ_BYTES + keyLength, 'cipher session with its key').subarray(CTRL_REQ_BYTES);
  const session = cipherSession(algo, key, direction === OP_ENCRYPT);
  // The request's copy of the key is not kept: the session holds it as a key object.
  key.fill(0);
  if (typeof session === 'number') return refuse(session);
  const id = sessions.add(session);
  // NOSPC is only for a driver that negotiated VIRTIO_CRYPTO_F_REVISION_1, which is not offered.
  if (id === undefined) return refuse(STATUS.ERR, 'noSpace');
  return { reply: sessionInput(STATUS.OK, id), status: STATUS.OK, sessions: 1 };
}
