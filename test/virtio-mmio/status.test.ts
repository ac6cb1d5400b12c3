// Every cell of the status transition table, written out by hand from virtio 1.2 (2.1, 2.2.2, 3.1.1), and the
// transport acting on it: no DRIVER_OK without an accepted FEATURES_OK, no feature the device did not offer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { DeviceContext, VirtioDevice } from '../../src/virtio-mmio/device';
import { MmioRegisters } from '../../src/virtio-mmio/mmio-registers';
import { REG, STATUS } from '../../src/virtio-mmio/registers';
import { statusTransition, type StatusOutcome } from '../../src/virtio-mmio/status';
import { createTransportState, W } from '../../src/virtio-mmio/state';
import { MmioTransport } from '../../src/virtio-mmio/transport';
import { MockDriver } from './mock-driver';

const { ACKNOWLEDGE: A, DRIVER: D, FEATURES_OK: FO, DRIVER_OK: DO, DEVICE_NEEDS_RESET: NR, FAILED: F } = STATUS;

// Rows: the status before the write, each stage of a correct bring-up. Columns: the value written, 0..15 (the
// four init bits: A=1, D=2, DO=4, FO=8). r reset, = same, a accept, i ignore, R needs reset, a* accept when the
// features are acceptable and refuse-features when not.
const ROWS: [number, string[]][] = [
  //      0    1    2    3    4    5    6    7    8    9    10   11    12   13   14   15
  [0, ['r', 'a', 'i', 'a', 'R', 'R', 'i', 'R', 'i', 'i', 'i', 'a*', 'i', 'i', 'i', 'R']],
  [A, ['r', '=', 'i', 'a', 'i', 'R', 'i', 'R', 'i', 'i', 'i', 'a*', 'i', 'i', 'i', 'R']],
  [A | D, ['r', 'i', 'i', '=', 'i', 'i', 'i', 'R', 'i', 'i', 'i', 'a*', 'i', 'i', 'i', 'R']],
  [A | D | FO, ['r', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', '=', 'i', 'i', 'i', 'a']],
  [A | D | FO | DO, ['r', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', '=']],
];

const NAMES: Record<string, StatusOutcome> = { r: 'reset', '=': 'same', a: 'accept', i: 'ignore', R: 'needs-reset' };

function expected(cell: string, old: number, v: number, featuresOk: boolean): { outcome: StatusOutcome; next: number } {
  if (cell === 'a*') return featuresOk ? { outcome: 'accept', next: v } : { outcome: 'refuse-features', next: v & ~FO };
  const outcome = NAMES[cell]!;
  const next = { reset: 0, same: old, accept: v, ignore: old, 'needs-reset': old | NR }[outcome as string]!;
  return { outcome, next };
}

for (const featuresOk of [true, false]) {
  test(`every cell of the bring-up table, features ${featuresOk ? 'acceptable' : 'refused'}`, () => {
    for (const [old, cells] of ROWS) {
      cells.forEach((cell, v) => {
        let asked = false;
        const got = statusTransition(old, v, () => { asked = true; return featuresOk; });
        assert.deepEqual(got, expected(cell, old, v, featuresOk), `status 0x${old.toString(16)}, write 0x${v.toString(16)}`);
        assert.equal(asked, cell === 'a*', `features checked only where FEATURES_OK is set (0x${old.toString(16)}, 0x${v.toString(16)})`);
      });
    }
  });
}

test('FAILED, DEVICE_NEEDS_RESET and bits outside the spec', () => {
  const ok = (): boolean => true;
  const cases: [number, number, StatusOutcome, number, string][] = [
    [0, F, 'accept', F, 'FAILED from reset'],
    [A | D, A | D | F, 'accept', A | D | F, 'FAILED mid bring-up'],
    [A | D | FO | DO, A | D | FO | DO | F, 'accept', A | D | FO | DO | F, 'FAILED while running'],
    [A | D, A | D | FO | F, 'accept', A | D | F, 'FAILED wins over bits set with it'],
    [A | D, F, 'ignore', A | D, 'FAILED that clears bits'],
    [A | D | F, A | D | F, 'same', A | D | F, 'FAILED again'],
    [A | D | F, A | D | FO | F, 'ignore', A | D | F, 'anything after FAILED'],
    [A | D | NR, A | D | FO | NR, 'ignore', A | D | NR, 'anything after NEEDS_RESET'],
    [A | D | FO | DO | NR, A | D | FO | DO, 'same', A | D | FO | DO | NR, 'the driver cannot clear NEEDS_RESET'],
    [A | D | NR, A | D | NR | F, 'accept', A | D | NR | F, 'FAILED after NEEDS_RESET'],
    [0, A | NR, 'accept', A, 'the driver cannot set NEEDS_RESET'],
    [0, A | 0x10, 'ignore', 0, 'reserved bit 4'],
    [0, A | 0x20, 'ignore', 0, 'reserved bit 5'],
    [A, A | 0x100, 'ignore', A, 'a bit above the byte'],
  ];
  for (const [old, v, outcome, next, what] of cases) {
    assert.deepEqual(statusTransition(old, v, ok), { outcome, next }, what);
  }
});

/** A device that records the features it was started with. */
function spyDevice(): VirtioDevice & { started: bigint[]; resets: number } {
  const spy = {
    deviceType: 4, queueMaxSizes: [16], features: 1n << 3n, started: [] as bigint[], resets: 0,
    configSpace: () => new Uint8Array(0),
    activate(ctx: DeviceContext) { spy.started.push(ctx.features); },
    onQueueNotify() {},
    reset() { spy.resets++; },
    counters: () => ({}),
  };
  return spy;
}

function rig() {
  const d = new MockDriver(16);
  const device = spyDevice();
  const t = new MmioTransport(device, createTransportState(), { memory: d.mem, raiseIrq: () => {}, log: pino({ level: 'silent' }) });
  const regs = new MmioRegisters(t.state, { post: (e) => t.handleEvent(e) });
  const wr = (off: number, v: number): void => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); regs.write(off, b); };
  const status = (): number => Atomics.load(new Int32Array(t.state), W.STATUS);
  return { device, t, wr, status };
}

test('DRIVER_OK without an accepted FEATURES_OK does not start the device and asks for a reset', () => {
  for (const features of [0, 1]) { // FEATURES_OK never written, or written and refused (VERSION_1 missing)
    const r = rig();
    r.wr(REG.STATUS, A);
    r.wr(REG.STATUS, A | D);
    if (features === 0) r.wr(REG.STATUS, A | D | FO);
    assert.equal(r.status() & FO, 0);
    r.wr(REG.STATUS, A | D | DO);
    assert.deepEqual(r.device.started, [], 'the device was not started');
    assert.equal(r.status(), A | D | NR, 'DRIVER_OK refused, DEVICE_NEEDS_RESET set');
  }
});

test('the transport starts the device with the acked features masked by its offer', () => {
  const r = rig();
  // A driver that acks every bit, written straight into the shared state as a racing vCPU could leave it.
  const w = new Int32Array(r.t.state);
  Atomics.store(w, W.DRIVER_FEATURES_LO, -1);
  Atomics.store(w, W.DRIVER_FEATURES_HI, -1);
  Atomics.store(w, W.STATUS, A | D | FO | DO);
  r.t.handleEvent({ kind: 'status', value: A | D | FO | DO });
  assert.deepEqual(r.device.started, [(1n << 3n) | (1n << 28n) | (1n << 29n) | (1n << 32n)]);
});

test('FAILED from the driver stops a running device', () => {
  const r = rig();
  r.wr(REG.STATUS, A);
  r.wr(REG.STATUS, A | D);
  r.wr(REG.DRIVER_FEATURES_SEL, 1);
  r.wr(REG.DRIVER_FEATURES, 1);
  r.wr(REG.STATUS, A | D | FO);
  r.wr(REG.STATUS, A | D | FO | DO);
  assert.equal(r.device.started.length, 1);
  r.wr(REG.STATUS, A | D | FO | DO | F);
  assert.equal(r.device.resets, 1);
  assert.equal(r.status(), A | D | FO | DO | F);
});
