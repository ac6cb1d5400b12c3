// Discard and write-zeroes take one range, as the config space says (max_discard_seg, max_write_zeroes_seg): each
// range is a syscall on the main thread, and a chain could hold 4 GiB of them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { BlkDevice } from '../../src/devices/blk';
import { F_WRITE, MockDriver, mockContext } from '../virtio-mmio/mock-driver';

const HDR = 0x10000;
const RANGES = 0x20000;
const STATUS = 0x30000;

test('a discard or write-zeroes with more than one range is refused (UNSUPP) and touches nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-blk-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(64 * 1024, 0xab));
  const dev = new BlkDevice({ path: file, readonly: false, cache: 'writeback', create: false });
  const d = new MockDriver(16, 1 << 20);
  const ctx = mockContext(dev, { memory: d.mem, queues: [d.queue()], features: dev.features });
  dev.activate(ctx);
  try {
    for (const [type, ranges, want] of [[11, 2, 2], [13, 2, 2], [13, 1, 0]] as const) {
      for (let i = 0; i < ranges; i++) {
        d.mem.writeU64(RANGES + 16 * i, BigInt(8 * i));
        d.mem.writeU32(RANGES + 16 * i + 8, 8);
      }
      d.mem.writeU32(HDR, type);
      d.mem.writeU8(STATUS, 0xff);
      d.addChain([{ addr: HDR, len: 16, flags: 0 }, { addr: RANGES, len: 16 * ranges, flags: 0 },
        { addr: STATUS, len: 1, flags: F_WRITE }]);
      dev.onQueueNotify(0);
      assert.equal(d.mem.readU8(STATUS), want, `type ${type} with ${ranges} ranges`);
    }
    const image = fs.readFileSync(file);
    assert.ok(image.subarray(0, 4096).every((b) => b === 0), 'the one good write-zeroes landed');
    assert.ok(image.subarray(4096).every((b) => b === 0xab), 'the refused ones did nothing');
    assert.deepEqual(ctx.failures, []);
  } finally {
    await dev.quiesce();
    dev.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
