// The longest work a guest can ask of virtio-crypto at once: a data ring full of requests at max_size (1 MiB of
// IV, source, destination and status each), served in bounded turns and in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCipheriv } from 'node:crypto';
import { CIPHER, STATUS } from '../../../src/devices/crypto/protocol';
import { measureStall, STALL_LIMIT_MS, worst } from '../stall-probe';
import { DST, hex, session, setup, STATUS_BYTE } from './harness';

/** The longest source a 1 MiB request carries: 16 + 2 * length + 1 <= 1 MiB, in whole blocks. */
const LONGEST = 524_272;

test('a ring full of max_size CBC requests is served in bounded turns and in order', async () => {
  const c = setup();
  const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  const iv = Buffer.alloc(16, 3);
  const id = session(c, CIPHER.AES_CBC, key, true);
  const plain = Buffer.alloc(LONGEST, 0x61);
  // Five descriptors a chain in a 64-entry ring.
  const heads = Array.from({ length: 12 }, () => c.queueCipher(true, id, iv, plain));
  const before = c.dataq.usedIdx();
  const s = await measureStall(() => c.dev.onQueueNotify(0), () => c.dataq.usedIdx() === before + heads.length);
  console.log(`# crypto: notify ${s.notifyMs.toFixed(1)} ms, longest turn ${s.worstTurnMs.toFixed(1)} ms CPU`);
  assert.ok(worst(s) < STALL_LIMIT_MS, `held the main thread for ${worst(s).toFixed(1)} ms`);
  assert.deepEqual(heads.map((_, i) => c.dataq.used(before + i).id), heads);
  const x = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
  const want = Buffer.concat([x.update(plain), x.final()]);
  assert.ok(Buffer.from(c.mem.read(DST, LONGEST)).equals(want));
  assert.equal(c.mem.read(STATUS_BYTE, 1)[0], STATUS.OK);
  assert.equal(c.dev.counters().encryptedBytes, heads.length * LONGEST);
  assert.deepEqual(c.ctx.failures, []);
});
