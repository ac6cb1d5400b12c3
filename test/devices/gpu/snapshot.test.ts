// The gpu's snapshot state through the mock driver: a resource with its host copy, its backing and the scanout that
// shows it come back in a new device, whose backing then serves a transfer from the same guest pages; state that
// does not fit the device is refused, naming the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RESP } from '../../../src/devices/gpu/protocol';
import { attachBacking, create2d, PAGES, setScanout, setup, transfer } from './harness';

const BGRX = 2;

test('a restored gpu shows what the old one did and transfers from the saved backing', async () => {
  const a = setup();
  a.type(create2d(7, BGRX, 16, 8));
  const image = Buffer.alloc(16 * 8 * 4, 0x5a);
  a.mem.write(PAGES, image);
  a.type(attachBacking(7, [{ addr: PAGES, length: image.length }]));
  assert.equal((await a.sendAndWait(transfer(7, [0, 0, 16, 8]))).type, RESP.OK_NODATA);
  assert.equal(a.type(setScanout(0, 7, [0, 0, 16, 8])), RESP.OK_NODATA);
  const saved = JSON.parse(JSON.stringify(a.dev.snapshotState())) as unknown;

  const b = setup();
  b.dev.reset();
  b.dev.restoreState(saved);
  assert.deepEqual(Buffer.from(b.dev.scanoutFrame(0)!.pixels), image, 'the host copy, before the guest runs');
  b.dev.activate(b.ctx);
  // The guest changes its pages and transfers again: the restored backing reads them.
  b.mem.fill(PAGES, image.length, 0x33);
  assert.equal((await b.sendAndWait(transfer(7, [0, 0, 16, 8]))).type, RESP.OK_NODATA);
  assert.deepEqual(Buffer.from(b.dev.scanoutFrame(0)!.pixels), Buffer.alloc(image.length, 0x33));
  assert.deepEqual(b.ctx.failures, []);
});

test('gpu state that does not fit is refused by field, and leaves the device empty', () => {
  const a = setup();
  a.type(create2d(7, BGRX, 16, 8));
  a.type(setScanout(0, 7, [0, 0, 16, 8]));
  const good = JSON.parse(JSON.stringify(a.dev.snapshotState())) as Record<string, unknown> & {
    resources: Record<string, unknown>[]; scanouts: Record<string, unknown>[] };
  const b = setup();
  const bad = (change: (s: typeof good) => void, pattern: RegExp): void => {
    const s = JSON.parse(JSON.stringify(good)) as typeof good;
    change(s);
    assert.throws(() => b.dev.restoreState(s), pattern);
    assert.equal(b.dev.scanoutFrame(0), undefined);
    assert.equal(b.dev.counters().resources, 0);
  };
  bad((s) => { s.resources[0]!.format = 999; }, /resources\[0\]\.format 999/);
  bad((s) => { s.resources[0]!.width = 0; }, /resources\[0\]\.width is 0/);
  bad((s) => { s.resources[0]!.pixels = 'AAAA'; }, /resources\[0\]\.pixels is not 512 bytes/);
  bad((s) => { s.resources.push(s.resources[0]!); }, /resources\[1\]\.id 7 is there twice/);
  bad((s) => { s.resources[0]!.backing = [[-1, 4096]]; }, /backing\[0\]\[0\] is -1/);
  bad((s) => { s.scanouts[0]!.rect = { x: 8, y: 0, width: 16, height: 8 }; }, /scanouts\[0\] shows resource 7 at a rect/);
  bad((s) => { s.scanouts.push(s.scanouts[0]!); }, /scanouts: 2 saved, the device has 1/);
  bad((s) => { s.mode = { width: 1, height: 1 }; }, /a scanout is/);
});
