// What a hostile or broken driver gets from virtio-crypto: each bad value refused with its status (and nothing
// written but the status), the cap on sessions, and a chain too short for what it states failed as a whole.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CIPHER, DATA_REQ_BYTES, OPCODE, STATUS } from '../../../src/devices/crypto/protocol';
import { hex, session, setup } from './harness';

const KEY_128 = hex('2b7e151628aed2a6abf7158809cf4f3c');
const XTS_KEY = hex('fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0');
const IV = Buffer.alloc(16, 7);
const UNTOUCHED = 0xee;

test('CREATE_SESSION: an unknown algorithm or algorithm chaining is NOTSUPP, a bad key length or op ERR', () => {
  const c = setup();
  const refused = (status: number) => ({ id: 0n, status, len: 16 });
  for (const algo of [0, 1, 5, 12, 14, 99, 0xffffffff]) {
    assert.deepEqual(c.createSession(algo, KEY_128, true), refused(STATUS.NOTSUPP), `algorithm ${algo}`);
  }
  assert.deepEqual(c.createSession(CIPHER.AES_CBC, KEY_128, true, { opType: 2 }), refused(STATUS.NOTSUPP), 'chaining');
  assert.deepEqual(c.createSession(CIPHER.AES_CBC, KEY_128, true, { opType: 0 }), refused(STATUS.NOTSUPP), 'no op');
  const badKeys: [number, number][] = [[CIPHER.AES_ECB, 15], [CIPHER.AES_ECB, 17], [CIPHER.AES_CBC, 33],
    [CIPHER.AES_CBC, 64], [CIPHER.AES_CTR, 8], [CIPHER.AES_XTS, 16], [CIPHER.AES_XTS, 48], [CIPHER.AES_XTS, 24]];
  for (const [algo, length] of badKeys) {
    assert.deepEqual(c.createSession(algo, Buffer.alloc(length, 1), true), refused(STATUS.ERR), `${algo}/${length}`);
  }
  // Past max_cipher_key_len (or 0): refused before any key is read, so the chain need not hold it.
  for (const keyLength of [0, 65, 0xffffffff]) {
    assert.deepEqual(c.createSession(CIPHER.AES_CBC, KEY_128, true, { keyLength, keyBytes: 0 }),
      refused(STATUS.ERR), `key length ${keyLength}`);
  }
  assert.deepEqual(c.createSession(CIPHER.AES_XTS, Buffer.alloc(32, 9), true), refused(STATUS.ERR),
    'XTS with equal key halves (IEEE 1619 forbids them)');
  for (const op of [0, 3, 0xffffffff]) {
    assert.deepEqual(c.createSession(CIPHER.AES_CBC, KEY_128, true, { op }), refused(STATUS.ERR), `op ${op}`);
  }
  assert.deepEqual(c.ctx.failures, []);
  const n = c.dev.counters();
  assert.equal(n.notSupported, 9);
  assert.equal(n.failed, 15);
  assert.equal(n.sessions, 0);
});

test('services not offered: their create is answered NOTSUPP in a session_input, anything else a status byte', () => {
  const c = setup();
  for (const opcode of [OPCODE.HASH_CREATE_SESSION, OPCODE.MAC_CREATE_SESSION, OPCODE.AEAD_CREATE_SESSION,
    OPCODE.AKCIPHER_CREATE_SESSION]) {
    assert.deepEqual(c.createSession(CIPHER.AES_CBC, KEY_128, true, { opcode }), { id: 0n, status: STATUS.NOTSUPP, len: 16 });
  }
  for (const opcode of [0x103, 0x203, 0x0, 0xffffffff]) assert.equal(c.destroySession(1n, opcode), STATUS.NOTSUPP);
  assert.deepEqual(c.ctx.failures, []);
});

test('DESTROY_SESSION: an unknown session is ERR, and a destroyed one cannot be used (INVSESS)', () => {
  const c = setup();
  assert.equal(c.destroySession(1n), STATUS.ERR);
  assert.equal(c.destroySession(0xffff_ffff_ffff_ffffn), STATUS.ERR);
  const id = session(c, CIPHER.AES_CBC, KEY_128, true);
  assert.equal(c.cipher(true, id, IV, Buffer.alloc(16))?.status, STATUS.OK);
  assert.equal(c.destroySession(id), STATUS.OK);
  assert.equal(c.destroySession(id), STATUS.ERR);
  const r = c.cipher(true, id, IV, Buffer.alloc(16));
  assert.equal(r?.status, STATUS.INVSESS);
  assert.equal(r.len, 0);
  assert.ok(r.out.equals(Buffer.alloc(16, UNTOUCHED)), 'nothing written but the status');
  assert.equal(c.cipher(true, 12345n, IV, Buffer.alloc(16))?.status, STATUS.INVSESS, 'never made');
  // Destroys of a session that is not there count too, though they are answered ERR.
  assert.equal(c.dev.counters().invalidSessions, 5);
  assert.equal(c.dev.counters().failed, 0);
  assert.notEqual(session(c, CIPHER.AES_CBC, KEY_128, true), id, 'IDs are not reused');
});

test('sessions are capped: past maxSessions ERR (NOSPC needs REVISION_1), and a destroy makes room', () => {
  const c = setup({ maxSessions: 3 });
  const ids = [0, 1, 2].map(() => session(c, CIPHER.AES_CTR, KEY_128, true));
  assert.deepEqual(c.createSession(CIPHER.AES_CTR, KEY_128, true), { id: 0n, status: STATUS.ERR, len: 16 });
  assert.equal(c.destroySession(ids[1]!), STATUS.OK);
  assert.equal(c.createSession(CIPHER.AES_CTR, KEY_128, true)?.status, STATUS.OK);
  assert.equal(c.dev.counters().noSpace, 1);
  assert.equal(c.dev.counters().sessions, 3);
  assert.throws(() => setup({ maxSessions: 0 }), /1\.\.65536 sessions, not 0/);
});

test('data requests: a wrong IV length, a length the mode cannot take, dst unlike src, a wrong direction: ERR', () => {
  const c = setup();
  const cbc = session(c, CIPHER.AES_CBC, KEY_128, true);
  const ecb = session(c, CIPHER.AES_ECB, KEY_128, true);
  const xts = session(c, CIPHER.AES_XTS, XTS_KEY, false);
  const ctr = session(c, CIPHER.AES_CTR, KEY_128, true);
  const cases: [string, ReturnType<typeof c.cipher>][] = [
    ['CBC with an 8-byte IV', c.cipher(true, cbc, IV.subarray(0, 8), Buffer.alloc(16))],
    ['CBC with no IV', c.cipher(true, cbc, Buffer.alloc(0), Buffer.alloc(16))],
    ['ECB with an IV', c.cipher(true, ecb, IV, Buffer.alloc(16))],
    ['CBC of 17 bytes', c.cipher(true, cbc, IV, Buffer.alloc(17))],
    ['ECB of 15 bytes', c.cipher(true, ecb, Buffer.alloc(0), Buffer.alloc(15))],
    ['XTS of 15 bytes', c.cipher(false, xts, IV, Buffer.alloc(15))],
    ['dst shorter than src', c.cipher(true, cbc, IV, Buffer.alloc(32), { dstLength: 16 })],
    ['dst longer than src', c.cipher(true, cbc, IV, Buffer.alloc(32), { dstLength: 48 })],
    ['decrypt in an encrypt session', c.cipher(false, cbc, IV, Buffer.alloc(16))],
    ['encrypt in a decrypt session', c.cipher(true, xts, IV, Buffer.alloc(16))],
  ];
  for (const [what, r] of cases) {
    assert.equal(r?.status, STATUS.ERR, what);
    assert.ok(r.out.every((b) => b === UNTOUCHED), `${what}: the destination is untouched`);
  }
  assert.equal(c.cipher(true, ctr, IV, Buffer.alloc(17))?.status, STATUS.OK, 'CTR takes any length');
  assert.equal(c.cipher(true, ctr, IV, Buffer.alloc(0))?.status, STATUS.OK, 'even none');
  assert.deepEqual(c.ctx.failures, []);
  assert.equal(c.dev.counters().failed, cases.length);
});

test('data requests: an opcode of another service or algorithm chaining is NOTSUPP', () => {
  const c = setup();
  const cbc = session(c, CIPHER.AES_CBC, KEY_128, true);
  assert.equal(c.cipher(true, cbc, IV, Buffer.alloc(16), { opType: 2 })?.status, STATUS.NOTSUPP);
  for (const opcode of [0x100, 0x200, 0x300, 0x400, 0x2, 0xffffffff]) {
    const req = Buffer.alloc(DATA_REQ_BYTES);
    req.writeUInt32LE(opcode, 0);
    req.writeBigUInt64LE(cbc, 8);
    assert.ok(c.rawData(req), `opcode 0x${opcode.toString(16)} answered`);
    assert.equal(c.mem.read(0x300000, 1)[0], STATUS.NOTSUPP);
  }
  assert.deepEqual(c.ctx.failures, []);
});

test('max_size caps IV, source, destination and status together; a huge length is refused unread', () => {
  const c = setup({ maxSize: 4096 });
  assert.equal(Buffer.from(c.dev.configSpace()).readBigUInt64LE(48), 4096n);
  const cbc = session(c, CIPHER.AES_CBC, KEY_128, true);
  assert.equal(c.cipher(true, cbc, IV, Buffer.alloc(2032))?.status, STATUS.OK, '16 + 2 * 2032 + 1 = 4081');
  assert.equal(c.cipher(true, cbc, IV, Buffer.alloc(2048))?.status, STATUS.ERR, '16 + 2 * 2048 + 1 = 4113');
  for (const length of [0x8000_0000, 0xffff_fff0]) {
    const r = c.cipher(true, cbc, IV, Buffer.alloc(16), { srcLength: length, srcBytes: 16, dstRoom: 16 });
    assert.equal(r?.status, STATUS.ERR, `${length}`);
  }
  assert.deepEqual(c.ctx.failures, []);
});

test('a control chain too short for its request, its key or its answer fails the device', () => {
  const cut: [string, (c: ReturnType<typeof setup>) => unknown][] = [
    ['request', (c) => c.createSession(CIPHER.AES_CBC, KEY_128, true, { requestBytes: 71 })],
    ['key', (c) => c.createSession(CIPHER.AES_CBC, KEY_128, true, { keyBytes: 15 })],
    ['answer', (c) => c.createSession(CIPHER.AES_CBC, KEY_128, true, { room: 15 })],
    ['no answer', (c) => c.destroySession(1n, OPCODE.CIPHER_DESTROY_SESSION, 0)],
  ];
  for (const [what, send] of cut) {
    const c = setup();
    const id = session(c, CIPHER.AES_CBC, KEY_128, true);
    assert.equal(send(c), undefined, what);
    assert.equal(c.ctx.failures.length, 1, what);
    assert.match(c.ctx.failures[0]!, /crypto/);
    // The failure reset the device: its sessions went with it.
    assert.equal(c.dev.counters().sessions, 0, what);
    assert.equal(c.dev.counters().errors, 1, what);
    assert.notEqual(id, 0n);
  }
});

test('a data chain too short for its header, its source or its destination fails the device, never half done', () => {
  const cut: [string, (c: ReturnType<typeof setup>, id: bigint) => unknown][] = [
    ['header', (c) => c.rawData(Buffer.alloc(DATA_REQ_BYTES - 1))],
    ['source', (c, id) => c.cipher(true, id, IV, Buffer.alloc(32), { srcBytes: 16 })],
    ['IV', (c, id) => c.cipher(true, id, IV.subarray(0, 8), Buffer.alloc(0), { ivLength: 16, srcLength: 32, dstRoom: 32 })],
    ['destination', (c, id) => c.cipher(true, id, IV, Buffer.alloc(32), { dstRoom: 16 })],
  ];
  for (const [what, send] of cut) {
    const c = setup();
    const id = session(c, CIPHER.AES_CBC, KEY_128, true);
    const r = send(c, id);
    assert.ok(r === undefined || r === false, what);
    assert.equal(c.ctx.failures.length, 1, what);
    assert.ok(c.mem.read(0x200000, 32).every((b) => b === UNTOUCHED), `${what}: nothing written`);
    assert.equal(c.mem.read(0x300000, 1)[0], UNTOUCHED, `${what}: no status`);
  }
});

test('a reset drops every session: a new driver starts from none, with IDs from 1', () => {
  const c = setup();
  const id = session(c, CIPHER.AES_CBC, KEY_128, true);
  assert.equal(id, 1n);
  assert.equal(session(c, CIPHER.AES_CBC, KEY_128, true), 2n);
  c.dev.reset();
  assert.equal(c.dev.counters().sessions, 0);
  // The driver sets the device up again (the same rings, for the test).
  c.dev.activate(c.ctx);
  assert.equal(c.cipher(true, id, IV, Buffer.alloc(16))?.status, STATUS.INVSESS, 'the old session is gone');
  assert.equal(session(c, CIPHER.AES_CBC, KEY_128, true), 1n);
});
