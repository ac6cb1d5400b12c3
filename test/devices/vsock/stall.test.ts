// The worst tx ring a hostile guest can post to vsock, played through the mock driver: every chain as long as the
// queue allows (a header, then an indirect table of aliased 4 MiB buffers, ~4 GiB) and the ring full of them. No
// single notify, and no turn of the event loop after it, may hold the main thread for more than STALL_LIMIT_MS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HDR_SIZE, MAX_PAYLOAD, OP, TYPE_STREAM } from '../../../src/devices/vsock/packet';
import { aliased, fillRing, measureStall, STALL_LIMIT_MS, TABLE, worst } from '../stall-probe';
import { TestGuest } from './test-guest';

/** Below the rx buffers (which start at 1 MiB) and above the three rings. */
const HDR = 0x30000;
const TABLE_AT = 0x40000;
/** Inside the tx area, which this test does not otherwise use. */
const DATA = 0x400000;
const ALIAS = 4 << 20;

function writeHeader(g: TestGuest, op: number, len: number): void {
  const v = g.mem.view(HDR, HDR_SIZE);
  v.setBigUint64(0, BigInt(g.cid), true);
  v.setBigUint64(8, 2n, true);
  v.setUint32(16, 1000, true);
  v.setUint32(20, 2000, true);
  v.setUint32(24, len, true);
  v.setUint16(28, TYPE_STREAM, true);
  v.setUint16(30, op, true);
}

for (const [what, op, len] of [['payload for no connection', OP.RW, MAX_PAYLOAD], ['connection requests', OP.REQUEST, 0]] as const) {
  test(`vsock: a full tx ring of ~4 GiB chains (${what}) is served in bounded turns`, async () => {
    const g = new TestGuest({ rxBuffers: 0 });
    try {
      g.activate();
      writeHeader(g, op, len);
      fillRing(g.tx, TABLE_AT, [{ addr: HDR, len: HDR_SIZE, flags: 0 }, ...aliased(TABLE - 1, DATA, ALIAS, 0)]);
      const s = await measureStall(() => g.dev.onQueueNotify(1), () => g.tx.usedIdx() === g.tx.size);
      assert.deepEqual(g.failures, []);
      assert.ok(g.dev.counters().txPackets === g.tx.size, 'every packet was read');
      const ms = (v: number): string => v.toFixed(1);
      console.log(`# vsock ${what}: CPU time: notify ${ms(s.notifyMs)} ms, longest turn ${ms(s.worstTurnMs)} ms; `
        + `wall time: notify ${ms(s.notifyWallMs)} ms, longest turn ${ms(s.worstTurnWallMs)} ms`);
      assert.ok(worst(s) < STALL_LIMIT_MS, `vsock held the main thread for ${ms(worst(s))} ms of CPU time`);
    } finally {
      g.close();
    }
  });
}
