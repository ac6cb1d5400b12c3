// The worst rings a guest can post to the scsi adapter's request queue, for the main thread: the commands whose
// work runs there (UNMAP's holes, WRITE SAME's fallocate) in chains as long as the queue allows (~4 GiB of aliased
// data-out), the ring full of them. No notify, and no later turn of the event loop, may hold the main thread for
// more than STALL_LIMIT_MS of CPU time.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ScsiDevice } from '../../../src/devices/scsi/device';
import { F_WRITE, MockDriver, mockContext } from '../../virtio-mmio/mock-driver';
import { ALIAS, aliased, fillRing, measureStall, STALL_LIMIT_MS, TABLE, worst } from '../stall-probe';

const MiB = 1 << 20;
const TABLE_AT = 0x40000;
const HDR = 0x30000;
const RESP = 0x31000;
const DATA = 4 * MiB;

async function ringOf(cdb: number[], dataOut: Buffer, what: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-scsi-stall-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(8 * MiB, 0xab));
  fs.truncateSync(file, 64 * MiB);
  const dev = new ScsiDevice({ disks: [{ path: file, readonly: false }] });
  const d = new MockDriver(256, DATA + ALIAS, { base: 0x10000 * 2 });
  const ctx = mockContext(dev, { memory: d.mem, queues: [undefined, undefined, d.queue()], features: 0n });
  dev.activate(ctx);
  try {
    const header = Buffer.alloc(51);
    header.set([1, 0, 0x40, 0], 0);
    header.set(cdb, 19);
    d.mem.write(HDR, header);
    d.mem.write(DATA, dataOut);
    fillRing(d, TABLE_AT, [{ addr: HDR, len: 51, flags: 0 }, ...aliased(TABLE - 2, DATA, ALIAS, 0),
      { addr: RESP, len: 108, flags: F_WRITE }]);
    const s = await measureStall(() => dev.onQueueNotify(2), () => d.usedIdx() === 256);
    assert.deepEqual(ctx.failures, []);
    assert.deepEqual([d.mem.readU8(RESP + 11), d.mem.readU8(RESP + 10)], [0, 0], 'the last command was GOOD');
    console.log(`# scsi ${what}: CPU time: notify ${s.notifyMs.toFixed(1)} ms, longest turn ${s.worstTurnMs.toFixed(1)} ms`);
    assert.ok(worst(s) < STALL_LIMIT_MS, `scsi ${what} held the main thread for ${worst(s).toFixed(1)} ms of CPU time`);
  } finally {
    dev.reset();
    await dev.quiesce();
    dev.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('scsi: a ring of UNMAPs with the most descriptors, in 4 GiB chains, is served in bounded turns', async () => {
  const list = Buffer.alloc(8 + 16 * 16);
  list.writeUInt16BE(list.length - 2, 0);
  list.writeUInt16BE(16 * 16, 2);
  for (let i = 0; i < 16; i++) {
    list.writeBigUInt64BE(BigInt(i * 1024), 8 + 16 * i);
    list.writeUInt32BE(1024, 16 + 16 * i);
  }
  await ringOf([0x42, 0, 0, 0, 0, 0, 0, 0, list.length, 0], list, 'unmap');
});

test('scsi: a ring of the longest zeroing WRITE SAMEs is served in bounded turns', async () => {
  await ringOf([0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], Buffer.alloc(512), 'write same');
});
