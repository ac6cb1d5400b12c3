// The crypto device in a snapshot: the sessions a driver made, keys included, go into its state, and a restored
// device answers requests on those session IDs with the same results; IDs go on from where they were, and state
// that does not describe sessions this device makes is refused by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CIPHER, STATUS } from '../../../src/devices/crypto/protocol';
import { hex, setup } from './harness';

const KEY = hex('2b7e151628aed2a6abf7158809cf4f3c');
const IV = hex('000102030405060708090a0b0c0d0e0f');
const PLAIN = hex('6bc1bee22e409f96e93d7e117393172a');
const CBC = hex('7649abac8119b246cee98e9b12e9197d');

test('a restored crypto device keeps the sessions and their keys, and new IDs go on from the old ones', () => {
  const a = setup();
  const enc = a.createSession(CIPHER.AES_CBC, KEY, true)!;
  const dec = a.createSession(CIPHER.AES_CBC, KEY, false)!;
  assert.deepEqual([enc.status, dec.status], [STATUS.OK, STATUS.OK]);
  const saved = JSON.parse(JSON.stringify(a.dev.snapshotState())) as { nextId: string; sessions: unknown[] };
  assert.deepEqual([saved.nextId, saved.sessions.length], ['3', 2]);

  const b = setup();
  b.dev.reset();
  b.dev.restoreState(saved);
  b.dev.activate(b.ctx);
  assert.deepEqual(b.cipher(true, enc.id, IV, PLAIN), { status: STATUS.OK, out: CBC, len: 17 });
  assert.deepEqual(b.cipher(false, dec.id, IV, CBC)?.out, PLAIN);
  assert.equal(b.createSession(CIPHER.AES_ECB, KEY, true)?.id, 3n);
  assert.equal(b.dev.counters().sessions, 3);
});

test('state that is not this device\'s sessions is refused, naming what is wrong', () => {
  const { dev } = setup();
  const key = KEY.toString('base64');
  assert.throws(() => dev.restoreState({ nextId: '0', sessions: [] }), /nextId is "0"/);
  assert.throws(() => dev.restoreState({ nextId: '2', sessions: [['2', CIPHER.AES_CBC, true, key]] }),
    /sessions\[0\]: id "2" is not a new one below nextId/);
  assert.throws(() => dev.restoreState({ nextId: '3', sessions: [['1', CIPHER.AES_CBC, true, key], ['1', CIPHER.AES_CBC, true, key]] }),
    /sessions\[1\]: id "1"/);
  assert.throws(() => dev.restoreState({ nextId: '2', sessions: [['1', 999, true, key]] }), /sessions\[0\] is not a cipher session/);
  assert.throws(() => dev.restoreState({ nextId: '2', sessions: [['1', CIPHER.AES_CBC, true, 'AAA']] }), /sessions\[0\]/);
  assert.throws(() => dev.restoreState({ nextId: '2', sessions: new Array(257).fill(['1', CIPHER.AES_CBC, true, key]) }),
    /at most 256 sessions/);
});
