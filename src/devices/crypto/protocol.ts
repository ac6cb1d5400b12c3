// virtio-crypto's wire format (virtio 1.2 section 5.9) without VIRTIO_CRYPTO_F_MUX_MODE: the fixed-size control and
// data requests, their status codes, and the config space that says which services and algorithms are offered.
// All fields are little-endian.

export const CRYPTO_DEVICE_TYPE = 20;
/** One data queue (dataq 0 .. max_dataqueues - 1), then the control queue. */
export const DATAQ = 0;
export const CONTROLQ = 1;
export const MAX_DATAQUEUES = 1;

export const SERVICE_CIPHER = 0;
/** VIRTIO_CRYPTO_OPCODE(service, op). */
const opcode = (service: number, op: number): number => (service << 8) | op;

export const OPCODE = {
  CIPHER_CREATE_SESSION: opcode(SERVICE_CIPHER, 0x02),
  CIPHER_DESTROY_SESSION: opcode(SERVICE_CIPHER, 0x03),
  HASH_CREATE_SESSION: opcode(1, 0x02),
  MAC_CREATE_SESSION: opcode(2, 0x02),
  AEAD_CREATE_SESSION: opcode(3, 0x02),
  AKCIPHER_CREATE_SESSION: opcode(4, 0x04),
  CIPHER_ENCRYPT: opcode(SERVICE_CIPHER, 0x00),
  CIPHER_DECRYPT: opcode(SERVICE_CIPHER, 0x01),
} as const;

/** The control opcodes whose answer is a virtio_crypto_session_input; every other one is answered a status byte. */
export const CREATE_OPCODES: ReadonlySet<number> = new Set([OPCODE.CIPHER_CREATE_SESSION, OPCODE.HASH_CREATE_SESSION,
  OPCODE.MAC_CREATE_SESSION, OPCODE.AEAD_CREATE_SESSION, OPCODE.AKCIPHER_CREATE_SESSION]);

export const STATUS = { OK: 0, ERR: 1, BADMSG: 2, NOTSUPP: 3, INVSESS: 4, NOSPC: 5 } as const;
export type Status = (typeof STATUS)[keyof typeof STATUS];

/** virtio_crypto_cipher_session_para.op: the direction a cipher session is made for. */
export const OP_ENCRYPT = 1;
export const OP_DECRYPT = 2;

/** sym_create_session.op_type and sym_data_req.op_type: a plain cipher (no algorithm chaining). */
export const SYM_OP_CIPHER = 1;

/** VIRTIO_CRYPTO_CIPHER_* algorithm numbers (bit N of cipher_algo_l is algorithm N). */
export const CIPHER = { AES_ECB: 2, AES_CBC: 3, AES_CTR: 4, AES_XTS: 13 } as const;

/**
 * virtio_crypto_op_ctrl_req: a 16-byte header (le32 opcode, algo, flag, queue_id) and a 56-byte union. For a cipher
 * session the union holds virtio_crypto_cipher_session_para (le32 algo, keylen, op, padding) at its start and the
 * sym op_type at its byte 48; for a destroy, the le64 session_id at its start. The key follows the request.
 */
export const CTRL_REQ_BYTES = 72;
export const CTRL = { OPCODE: 0, ALGO: 16, KEYLEN: 20, OP: 24, OP_TYPE: 64, SESSION_ID: 16 } as const;
/** virtio_crypto_session_input: le64 session_id, le32 status, le32 padding. */
export const SESSION_INPUT_BYTES = 16;

/**
 * virtio_crypto_op_data_req: a 24-byte header (le32 opcode, algo, le64 session_id, le32 flag, padding) and a
 * 48-byte union; for a sym request the cipher para (le32 iv_len, src_data_len, dst_data_len, padding) at its start
 * and op_type at its byte 40. The IV and the source follow, readable; the destination, then a status byte (the
 * chain's last writable byte), writable.
 */
export const DATA_REQ_BYTES = 72;
export const DATA = { OPCODE: 0, SESSION_ID: 8, IV_LEN: 24, SRC_LEN: 28, DST_LEN: 32, OP_TYPE: 64 } as const;

export const STATUS_HW_READY = 1;
export const CONFIG_BYTES = 56;

export interface CryptoLimits {
  maxCipherKeyLen: number;
  /** The most a data request may carry: IV, source, destination and status byte together. */
  maxSize: number;
}

/** virtio_crypto_config: which services and algorithms are offered, and the caps a driver must keep to. */
export function configSpace(cipherAlgos: readonly number[], limits: CryptoLimits): Uint8Array {
  const c = Buffer.alloc(CONFIG_BYTES);
  let low = 0;
  for (const a of cipherAlgos) low |= 1 << a;
  c.writeUInt32LE(STATUS_HW_READY, 0);
  c.writeUInt32LE(MAX_DATAQUEUES, 4);
  c.writeUInt32LE(1 << SERVICE_CIPHER, 8);
  c.writeUInt32LE(low >>> 0, 12); // cipher_algo_l; cipher_algo_h (16), hash, mac, aead stay 0
  c.writeUInt32LE(limits.maxCipherKeyLen, 36);
  // max_auth_key_len (40) and akcipher_algo (44) stay 0: no MAC, no akcipher.
  c.writeBigUInt64LE(BigInt(limits.maxSize), 48);
  return c;
}
