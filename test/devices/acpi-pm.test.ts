import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../src/base/bus';
import { ACPI_PM_LENGTH, ACPI_RESET_VALUE, AcpiPm, sleepRequest } from '../../src/devices/acpi-pm';
import { buildBuses } from '../../src/vmm/worker-devices';
import type { WorkerMessage } from '../../src/vmm/vcpu-protocol';

const PORT = 0x600;
const SLP_EN = 0x20;
const S5 = (5 << 2) | SLP_EN;

function setup(): { bus: Bus; events: string[] } {
  const events: string[] = [];
  const bus = new Bus();
  bus.insert(PORT, ACPI_PM_LENGTH, new AcpiPm({
    powerOff: () => events.push('poweroff'),
    reset: () => events.push('reset'),
    ignored: (what) => events.push(`ignored ${what}`),
  }));
  return { bus, events };
}

test('S5 with SLP_EN powers off; Linux first clears WAK_STS in the status register, which does nothing', () => {
  const { bus, events } = setup();
  assert.ok(bus.write(PORT + 1, Uint8Array.of(0x80)));
  assert.deepEqual(events, []);
  bus.write(PORT, Uint8Array.of(S5));
  assert.deepEqual(events, ['poweroff']);
});

test('the sleep type without SLP_EN, and other sleep types, do not power off', () => {
  const { bus, events } = setup();
  bus.write(PORT, Uint8Array.of(5 << 2));
  for (const type of [0, 1, 3, 4, 6, 7]) bus.write(PORT, Uint8Array.of((type << 2) | SLP_EN));
  assert.ok(!events.includes('poweroff'));
  assert.equal(events.length, 6, 'each other sleep type is reported as ignored');
  assert.equal(sleepRequest(0xff), 7, 'bits beyond SLP_TYP and SLP_EN are not the type');
  assert.equal(sleepRequest(S5 | 0xc3), 5);
});

test('the reset register resets on its value only', () => {
  const { bus, events } = setup();
  for (let v = 0; v < 256; v++) if (v !== ACPI_RESET_VALUE) bus.write(PORT + 2, Uint8Array.of(v));
  assert.ok(!events.includes('reset'));
  bus.write(PORT + 2, Uint8Array.of(ACPI_RESET_VALUE));
  assert.equal(events.at(-1), 'reset');
});

test('wide accesses straddle registers and do nothing; every register reads 0', () => {
  const { bus, events } = setup();
  bus.write(PORT, Uint8Array.of(S5, 0));
  bus.write(PORT + 1, Uint8Array.of(0, ACPI_RESET_VALUE));
  bus.write(PORT, Uint8Array.of(S5, 0, ACPI_RESET_VALUE, 0));
  assert.ok(events.every((e) => e.startsWith('ignored')), events.join());
  for (let off = 0; off < ACPI_PM_LENGTH; off++) {
    const d = Uint8Array.of(0xaa, 0xbb);
    bus.read(PORT + off, d);
    assert.deepEqual([...d], [0, 0]);
  }
});

/** The vCPU thread's wiring: the spec the main thread sends, built into the bus the worker dispatches exits to. */
function workerBus(): { pio: Bus; posted: WorkerMessage[]; stops: () => number } {
  const posted: WorkerMessage[] = [];
  let stops = 0;
  const { pio } = buildBuses([{ kind: 'acpi-pm', space: 'pio', base: PORT, length: ACPI_PM_LENGTH }],
    { vcpu: 1, vmFd: -1, post: (m) => posted.push(m), stopVcpu: () => stops++ });
  return { pio, posted, stops: () => stops };
}

test('on a vCPU thread, S5 ends the machine as poweroff and the reset register as reset, stopping the vCPU', () => {
  const off = workerBus();
  off.pio.write(PORT, Uint8Array.of(S5));
  assert.deepEqual(off.posted, [{ type: 'exit', vcpu: 1, reason: 'poweroff', detail: 'the guest entered ACPI S5 (soft off)' }]);
  assert.equal(off.stops(), 1);
  const reset = workerBus();
  reset.pio.write(PORT + 2, Uint8Array.of(ACPI_RESET_VALUE));
  assert.deepEqual(reset.posted, [{ type: 'exit', vcpu: 1, reason: 'reset', detail: 'the guest wrote the ACPI reset register' }]);
  assert.equal(reset.stops(), 1);
});

test('a guest hammering the registers with nonsense gets a few debug lines, not a flood', () => {
  const w = workerBus();
  for (let i = 0; i < 10_000; i++) w.pio.write(PORT + 2, Uint8Array.of(0));
  assert.ok(w.posted.length <= 8, `${w.posted.length} messages`);
  assert.ok(w.posted.every((m) => m.type === 'log' && m.level === 'debug'));
  assert.equal(w.stops(), 0);
});
