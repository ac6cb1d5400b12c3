// The cipher algorithms the device offers, each by the host's OpenSSL (node:crypto): which key lengths name which
// OpenSSL cipher, how long its IV is, and which data lengths it takes. Nothing is padded: a driver gives whole
// blocks where the mode needs them, and the output is exactly as long as the input.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { CIPHER, STATUS, type Status } from './protocol';

const AES_BLOCK = 16;

interface Algorithm {
  /** OpenSSL's cipher name by key length in bytes. */
  byKeyLength: ReadonlyMap<number, string>;
  ivLength: number;
  /** Whether the mode runs over `length` bytes of data. */
  takes: (length: number) => boolean;
}

const wholeBlocks = (length: number): boolean => length % AES_BLOCK === 0;

export const ALGORITHMS: ReadonlyMap<number, Algorithm> = new Map<number, Algorithm>([
  [CIPHER.AES_ECB, {
    byKeyLength: new Map([[16, 'aes-128-ecb'], [24, 'aes-192-ecb'], [32, 'aes-256-ecb']]), ivLength: 0,
    takes: wholeBlocks,
  }],
  [CIPHER.AES_CBC, {
    byKeyLength: new Map([[16, 'aes-128-cbc'], [24, 'aes-192-cbc'], [32, 'aes-256-cbc']]), ivLength: AES_BLOCK,
    takes: wholeBlocks,
  }],
  [CIPHER.AES_CTR, {
    byKeyLength: new Map([[16, 'aes-128-ctr'], [24, 'aes-192-ctr'], [32, 'aes-256-ctr']]), ivLength: AES_BLOCK,
    takes: () => true,
  }],
  // IEEE 1619: at least one block; a partial last block is done by ciphertext stealing.
  [CIPHER.AES_XTS, {
    byKeyLength: new Map([[32, 'aes-128-xts'], [64, 'aes-256-xts']]), ivLength: AES_BLOCK,
    takes: (length) => length >= AES_BLOCK,
  }],
]);

/** The longest key any offered algorithm takes (XTS with two AES-256 keys). */
export const MAX_CIPHER_KEY_LEN = 64;

export interface CipherSession {
  algo: number;
  cipherName: string;
  ivLength: number;
  encrypt: boolean;
  key: KeyObject;
  takes: (length: number) => boolean;
}

/**
 * A session for `algo` with `key` in one direction, or the status that refuses it: an algorithm not offered is
 * NOTSUPP, a key of a length it does not take (or an XTS key whose halves are equal, which IEEE 1619 forbids) is
 * ERR (virtio 1.2, 5.9: a create is answered OK, NOTSUPP or ERR; BADMSG is an AEAD's failed authentication).
 */
export function cipherSession(algo: number, key: Buffer, encrypt: boolean): CipherSession | Status {
  const a = ALGORITHMS.get(algo);
  if (a === undefined) return STATUS.NOTSUPP;
  const cipherName = a.byKeyLength.get(key.length);
  if (cipherName === undefined) return STATUS.ERR;
  if (algo === CIPHER.AES_XTS && key.subarray(0, key.length / 2).equals(key.subarray(key.length / 2))) {
    return STATUS.ERR;
  }
  return { algo, cipherName, ivLength: a.ivLength, encrypt, key: createSecretKey(key), takes: a.takes };
}

/**
 * Runs the session's cipher over `source` (the guest's buffers, read in order) with `iv`; the output is as long as
 * the input, in pieces. The caller checked the lengths against the algorithm.
 */
export function runCipher(s: CipherSession, iv: Buffer, source: readonly Uint8Array[]): Buffer[] {
  const ivArg = s.ivLength === 0 ? null : iv;
  const c = s.encrypt ? createCipheriv(s.cipherName, s.key, ivArg) : createDecipheriv(s.cipherName, s.key, ivArg);
  c.setAutoPadding(false);
  const out = source.map((piece) => c.update(piece));
  out.push(c.final());
  return out;
}
