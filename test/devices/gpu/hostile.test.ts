// What a hostile or broken driver gets from virtio-gpu: each bad value its own error type (and nothing changed),
// the caps on host memory, and a chain too short for its request or its answer failed as a whole.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CMD, RESP } from '../../../src/devices/gpu/protocol';
import { MAX_BACKING_ENTRIES } from '../../../src/devices/gpu/backing';
import { MAX_RESOURCE_SIDE } from '../../../src/devices/gpu/resources';
import {
  attachBacking, create2d, cursorCommand, flush, MEM_BYTES, PAGES, request, setScanout, setup, transfer,
} from './harness';

const BGRX = 2;
const FORMATS = [1, 2, 3, 4, 67, 68, 121, 134];

test('unknown commands are ERR_UNSPEC; 3D commands inside a context ERR_INVALID_CONTEXT_ID; no capsets', () => {
  const g = setup();
  assert.equal(g.type(request(0x0999)), RESP.ERR_UNSPEC);
  assert.equal(g.type(request(0)), RESP.ERR_UNSPEC);
  assert.equal(g.type(request(CMD.CTX_CREATE, [], undefined, undefined, 1)), RESP.ERR_UNSPEC, '3D is not offered');
  for (const t of [0x0201, 0x0202, 0x0203, 0x0205, 0x0206, 0x0207]) {
    assert.equal(g.type(request(t, [], undefined, undefined, 1)), RESP.ERR_INVALID_CONTEXT_ID, t.toString(16));
  }
  assert.equal(g.type(request(CMD.GET_CAPSET_INFO, [0, 0])), RESP.ERR_INVALID_PARAMETER);
  assert.equal(g.type(request(CMD.GET_CAPSET, [1, 0])), RESP.ERR_INVALID_PARAMETER);
  assert.equal(g.type(request(CMD.UPDATE_CURSOR)), RESP.ERR_UNSPEC, 'a cursor command on the control queue');
  assert.equal(g.dev.counters().errors, 12);
  assert.deepEqual(g.ctx.failures, []);
});

test('RESOURCE_CREATE_2D: ID 0 or taken, an unknown format, a side 0 or past the limit are refused', () => {
  const g = setup();
  assert.equal(g.type(create2d(0, BGRX, 16, 16)), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(create2d(1, BGRX, 16, 16)), RESP.OK_NODATA);
  assert.equal(g.type(create2d(1, BGRX, 32, 32)), RESP.ERR_INVALID_RESOURCE_ID);
  for (const f of [0, 5, 66, 69, 120, 135, 0xffffffff]) assert.equal(g.type(create2d(2, f, 16, 16)), RESP.ERR_INVALID_PARAMETER, `${f}`);
  for (const f of FORMATS) {
    assert.equal(g.type(create2d(100 + f, f, 16, 16)), RESP.OK_NODATA, `format ${f}`);
  }
  for (const [w, h] of [[0, 16], [16, 0], [MAX_RESOURCE_SIDE + 1, 1], [1, 0xffffffff]]) {
    assert.equal(g.type(create2d(3, BGRX, w!, h!)), RESP.ERR_INVALID_PARAMETER, `${w} x ${h}`);
  }
  assert.equal(g.dev.counters().resources, 1 + FORMATS.length);
});

test('host copies are capped: a count of resources and a total of bytes, past either ERR_OUT_OF_MEMORY', () => {
  const g = setup({ maxResources: 4, maxHostBytes: 64 * 64 * 4 * 3 + 4 });
  for (let id = 1; id <= 3; id++) assert.equal(g.type(create2d(id, BGRX, 64, 64)), RESP.OK_NODATA);
  assert.equal(g.type(create2d(4, BGRX, 64, 64)), RESP.ERR_OUT_OF_MEMORY, 'bytes');
  assert.equal(g.type(create2d(4, BGRX, 1, 1)), RESP.OK_NODATA);
  assert.equal(g.type(create2d(5, BGRX, 1, 1)), RESP.ERR_OUT_OF_MEMORY, 'count');
  g.type(request(CMD.RESOURCE_UNREF, [1, 0]));
  assert.equal(g.type(create2d(5, BGRX, 64, 64)), RESP.OK_NODATA, 'an unref gives its bytes back');
  assert.equal(g.dev.counters().hostBytes, 64 * 64 * 4 * 3 + 4);
});

test('the default caps: 1024 resources, 256 MiB of host copies', () => {
  const g = setup();
  assert.equal(g.type(create2d(1, BGRX, 8192, 8192)), RESP.OK_NODATA); // exactly 256 MiB
  assert.equal(g.type(create2d(2, BGRX, 1, 1)), RESP.ERR_OUT_OF_MEMORY);
  g.type(request(CMD.RESOURCE_UNREF, [1, 0]));
  for (let id = 1; id <= 1024; id++) assert.equal(g.type(create2d(id, BGRX, 1, 1)), RESP.OK_NODATA);
  assert.equal(g.type(create2d(2000, BGRX, 1, 1)), RESP.ERR_OUT_OF_MEMORY);
});

test('unknown resource IDs are ERR_INVALID_RESOURCE_ID for every command that names one', () => {
  const g = setup();
  assert.equal(g.type(request(CMD.RESOURCE_UNREF, [7, 0])), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(attachBacking(7, [{ addr: PAGES, length: 4096 }])), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(request(CMD.RESOURCE_DETACH_BACKING, [7, 0])), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(transfer(7, [0, 0, 1, 1])), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(setScanout(0, 7, [0, 0, 16, 16])), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(flush(7, [0, 0, 1, 1])), RESP.ERR_INVALID_RESOURCE_ID);
  assert.equal(g.type(request(CMD.RESOURCE_UNREF, [0, 0])), RESP.ERR_INVALID_RESOURCE_ID);
});

test('scanout IDs past num_scanouts are ERR_INVALID_SCANOUT_ID (SET_SCANOUT, GET_EDID)', () => {
  const g = setup({ scanouts: 2 });
  g.type(create2d(1, BGRX, 16, 16));
  assert.equal(g.type(setScanout(2, 1, [0, 0, 16, 16])), RESP.ERR_INVALID_SCANOUT_ID);
  assert.equal(g.type(setScanout(0xffffffff, 0, [0, 0, 0, 0])), RESP.ERR_INVALID_SCANOUT_ID);
  assert.equal(g.type(request(CMD.GET_EDID, [2, 0])), RESP.ERR_INVALID_SCANOUT_ID);
});

test('GET_EDID from a driver that did not take the EDID feature is ERR_UNSPEC', () => {
  const g = setup({}, 0n);
  assert.equal(g.type(request(CMD.GET_EDID, [0, 0])), RESP.ERR_UNSPEC);
});

test('rectangles outside the resource are ERR_INVALID_PARAMETER, including sums that wrap 32 bits', () => {
  const g = setup();
  g.type(create2d(1, BGRX, 32, 16));
  g.type(attachBacking(1, [{ addr: PAGES, length: 32 * 16 * 4 }]));
  const outside: [number, number, number, number][] = [[1, 0, 32, 16], [0, 1, 32, 16], [0, 0, 33, 1],
    [0xffffffff, 0, 2, 1], [0, 0xfffffff0, 1, 0x20]];
  for (const r of outside) {
    assert.equal(g.type(transfer(1, r)), RESP.ERR_INVALID_PARAMETER, `transfer ${r.join(',')}`);
    assert.equal(g.type(setScanout(0, 1, r)), RESP.ERR_INVALID_PARAMETER, `set scanout ${r.join(',')}`);
    assert.equal(g.type(flush(1, r)), RESP.ERR_INVALID_PARAMETER, `flush ${r.join(',')}`);
  }
  assert.equal(g.type(setScanout(0, 1, [0, 0, 0, 16])), RESP.ERR_INVALID_PARAMETER, 'an empty scanout');
  assert.equal(g.dev.scanoutFrame(0), undefined);
  assert.equal(g.dev.counters().transferredBytes, 0);
});

test('TRANSFER_TO_HOST_2D: no backing is ERR_UNSPEC; a backing too small or an offset past it ERR_INVALID_PARAMETER', () => {
  const g = setup();
  g.type(create2d(1, BGRX, 16, 16));
  assert.equal(g.type(transfer(1, [0, 0, 16, 16])), RESP.ERR_UNSPEC);
  g.type(attachBacking(1, [{ addr: PAGES, length: 16 * 16 * 4 - 1 }]));
  assert.equal(g.type(transfer(1, [0, 0, 16, 16])), RESP.ERR_INVALID_PARAMETER, 'one byte short');
  assert.equal(g.type(transfer(1, [0, 0, 16, 15])), RESP.OK_NODATA, 'fifteen rows fit');
  assert.equal(g.type(transfer(1, [0, 0, 1, 1], BigInt(16 * 16 * 4))), RESP.ERR_INVALID_PARAMETER);
  assert.equal(g.type(transfer(1, [0, 0, 1, 1], 0xffff_ffff_ffff_ffffn)), RESP.ERR_INVALID_PARAMETER);
  assert.equal(g.dev.counters().transferredBytes, 16 * 15 * 4);
});

test('ATTACH_BACKING: an entry outside guest RAM is refused; so are 0 or too many entries, or a second backing', () => {
  const g = setup();
  g.type(create2d(1, BGRX, 16, 16));
  for (const bad of [{ addr: MEM_BYTES - 100, length: 4096 }, { addr: 0x1_0000_0000n, length: 16 },
    { addr: 0xffff_ffff_ffff_f000n, length: 0x2000 }]) {
    assert.equal(g.type(attachBacking(1, [{ addr: PAGES, length: 4096 }, bad])), RESP.ERR_INVALID_PARAMETER,
      `0x${bad.addr.toString(16)}`);
  }
  assert.equal(g.type(transfer(1, [0, 0, 1, 1])), RESP.ERR_UNSPEC, 'nothing was attached');
  assert.equal(g.type(attachBacking(1, [], 0)), RESP.ERR_INVALID_PARAMETER);
  assert.equal(g.type(attachBacking(1, [], MAX_BACKING_ENTRIES + 1)), RESP.ERR_INVALID_PARAMETER);
  assert.equal(g.type(attachBacking(1, [{ addr: PAGES, length: 1024 }])), RESP.OK_NODATA);
  assert.equal(g.type(attachBacking(1, [{ addr: PAGES, length: 1024 }])), RESP.ERR_UNSPEC, 'already backed');
  assert.equal(g.type(request(CMD.RESOURCE_DETACH_BACKING, [1, 0])), RESP.OK_NODATA);
  assert.equal(g.type(request(CMD.RESOURCE_DETACH_BACKING, [1, 0])), RESP.ERR_UNSPEC, 'nothing to detach');
  assert.deepEqual(g.ctx.failures, []);
});

test('ATTACH_BACKING takes the most entries it allows', () => {
  const g = setup();
  g.type(create2d(1, BGRX, 256, 256));
  const entries = Array.from({ length: MAX_BACKING_ENTRIES }, (_, i) => ({ addr: PAGES + 16 * i, length: 16 }));
  assert.equal(g.type(attachBacking(1, entries)), RESP.OK_NODATA);
  assert.equal(g.type(transfer(1, [0, 0, 256, 256])), RESP.OK_NODATA);
});

test('a request shorter than its structure fails the device; nothing of it is done', () => {
  const cases: [string, Buffer, number][] = [
    ['a header cut short', create2d(1, BGRX, 16, 16), 20],
    ['a create without its height', create2d(1, BGRX, 16, 16), 36],
    ['an attach without its last entry', attachBacking(1, [{ addr: PAGES, length: 16 }, { addr: PAGES, length: 16 }]), 32 + 16 + 8],
  ];
  for (const [what, req, readable] of cases) {
    const g = setup();
    g.send(create2d(2, BGRX, 16, 16));
    g.ctrl.addChain([{ addr: 0x20000, len: readable, flags: 0 }, { addr: 0x80000, len: 24, flags: 2 }]);
    g.mem.write(0x20000, req);
    g.dev.onQueueNotify(0);
    assert.equal(g.ctx.failures.length, 1, what);
    assert.match(g.ctx.failures[0]!, /gpu .* needs \d+ device-readable bytes/, what);
    assert.equal(g.ctrl.usedIdx(), 1, `${what}: not answered`);
    assert.equal(g.dev.counters().resources, 0, `${what}: the failed device was reset`);
  }
});

test('an answer with no room for it fails the device instead of being cut short', () => {
  for (const [what, req, room] of [
    ['display info', request(CMD.GET_DISPLAY_INFO), 407], ['edid', request(CMD.GET_EDID, [0, 0]), 24],
    ['a create', create2d(1, BGRX, 16, 16), 23], ['no writable buffer at all', create2d(1, BGRX, 16, 16), 0],
  ] as const) {
    const g = setup();
    assert.throws(() => g.send(req, { room }), /not answered/);
    assert.match(g.ctx.failures[0] ?? '', /room for/, what);
    assert.equal(g.dev.counters().resources, 0, what);
  }
});

test('bad cursor commands change nothing and are counted; a short one fails the device', () => {
  const g = setup();
  g.type(create2d(1, 1, 64, 64));
  g.cursor(cursorCommand(CMD.UPDATE_CURSOR, 0, 10, 10, 1));
  const before = g.dev.cursorState();
  assert.equal(g.cursor(cursorCommand(CMD.UPDATE_CURSOR, 1, 0, 0, 1)), 0, 'scanout 1 of 1');
  assert.equal(g.cursor(cursorCommand(CMD.UPDATE_CURSOR, 0, 0, 0, 42)), 0, 'an unknown resource');
  assert.equal(g.cursor(cursorCommand(CMD.GET_DISPLAY_INFO, 0, 0, 0)), 0, 'not a cursor command');
  assert.deepEqual(g.dev.cursorState(), before);
  assert.equal(g.dev.counters().errors, 3);
  assert.equal(g.cursor(cursorCommand(CMD.MOVE_CURSOR, 0, 1, 1), 40), undefined);
  assert.match(g.ctx.failures[0] ?? '', /cursor command needs 56/);
});
