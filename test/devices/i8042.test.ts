import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../src/base/bus';
import { createI8042State, I8042, I8042Host } from '../../src/devices/i8042';

/** The controller mapped as the machine maps it: port 0x60, five ports. */
function setup(): { bus: Bus; resets: () => number } {
  let resets = 0;
  const bus = new Bus();
  bus.insert(0x60, 5, new I8042({ onReset: () => resets++ }));
  return { bus, resets: () => resets };
}

function inb(bus: Bus, port: number): number {
  const b = new Uint8Array(1);
  assert.ok(bus.read(port, b));
  return b[0]!;
}

function outb(bus: Bus, port: number, value: number): void {
  assert.ok(bus.write(port, Uint8Array.of(value)));
}

test('status is 0 with nothing pending, so a guest waiting for an empty input buffer goes on', () => {
  const { bus } = setup();
  assert.equal(inb(bus, 0x64), 0);
  assert.equal(inb(bus, 0x60), 0);
});

test('command 0xFE pulses the reset line once per write', () => {
  const { bus, resets } = setup();
  outb(bus, 0x64, 0xfe);
  assert.equal(resets(), 1);
  outb(bus, 0x64, 0xfe);
  assert.equal(resets(), 2);
  outb(bus, 0x64, 0xff); // pulses no line
  assert.equal(resets(), 2);
  outb(bus, 0x64, 0xf0); // pulses all four output-port lines, reset among them
  assert.equal(resets(), 3);
});

test('0x20 reads the command byte through port 0x60 with OBF set until it is read', () => {
  const { bus } = setup();
  outb(bus, 0x64, 0x20);
  assert.equal(inb(bus, 0x64) & 0x01, 0x01);
  const ctr = inb(bus, 0x60);
  assert.equal(ctr & 0x04, 0x04, 'system flag set');
  assert.equal(inb(bus, 0x64), 0, 'output buffer empty again');
  outb(bus, 0x64, 0x60);
  outb(bus, 0x60, 0x47);
  outb(bus, 0x64, 0x20);
  assert.equal(inb(bus, 0x60), 0x47, 'the command byte written with 0x60 is read back');
});

test('self tests answer as Linux expects; no mouse port', () => {
  const { bus } = setup();
  outb(bus, 0x64, 0xaa);
  assert.equal(inb(bus, 0x60), 0x55);
  outb(bus, 0x64, 0xab);
  assert.equal(inb(bus, 0x60), 0x00);
  outb(bus, 0x64, 0xa9);
  assert.notEqual(inb(bus, 0x60), 0x00, 'AUX interface test fails: no mouse');
});

test('writing the output port with bit 0 clear resets; other commands are accepted and ignored', () => {
  const { bus, resets } = setup();
  outb(bus, 0x64, 0xd0);
  assert.equal(inb(bus, 0x60) & 0x01, 0x01, 'reset line inactive (high)');
  outb(bus, 0x64, 0xd1);
  outb(bus, 0x60, 0x03);
  assert.equal(resets(), 0);
  outb(bus, 0x64, 0xd1);
  outb(bus, 0x60, 0x02);
  assert.equal(resets(), 1);
  for (const cmd of [0xad, 0xae, 0xa7, 0xa8, 0xd4]) outb(bus, 0x64, cmd);
  outb(bus, 0x60, 0xf2); // a byte for the (absent) keyboard
  assert.equal(inb(bus, 0x64), 0, 'nothing answers');
  assert.equal(resets(), 1);
});

test('ports 0x61..0x63 read 0xff and ignore writes; it also works mapped as two one-port ranges', () => {
  const { bus, resets } = setup();
  assert.equal(inb(bus, 0x61), 0xff);
  outb(bus, 0x61, 0x00);
  assert.equal(resets(), 0);

  let split = 0;
  const dev = new I8042({ onReset: () => split++ });
  const { data, command } = dev.splitPorts();
  const bus2 = new Bus();
  bus2.insert(0x60, 1, data);
  bus2.insert(0x64, 1, command);
  outb(bus2, 0x64, 0xaa);
  assert.equal(inb(bus2, 0x64), 0x01);
  assert.equal(inb(bus2, 0x60), 0x55);
  outb(bus2, 0x64, 0xfe);
  assert.equal(split, 1);
});

/** A controller as a vCPU maps it plus the host's side, over one shared state, counting IRQ 1 from both. */
function sharedController(): { bus: Bus; host: I8042Host; irqs: () => number } {
  const state = createI8042State();
  let irqs = 0;
  const bus = new Bus();
  bus.insert(0x60, 5, new I8042({ state, onReset: () => {}, interrupt: () => irqs++ }));
  return { bus, host: new I8042Host(state, { interrupt: () => irqs++ }), irqs: () => irqs };
}

/** Reads the output buffer until it is empty. */
function drain(bus: Bus): number[] {
  const got: number[] = [];
  while (inb(bus, 0x64) & 0x01) got.push(inb(bus, 0x60));
  return got;
}

test('Ctrl-Alt-Del from the host: set 1 scancodes through the shared state, IRQ 1 per byte', () => {
  const { bus, host, irqs } = sharedController();
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(irqs(), 1, 'the first byte raises IRQ 1');
  assert.deepEqual(drain(bus), [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  assert.equal(irqs(), 8, 'one more interrupt for each byte still waiting after a read');
});

test('Ctrl-Alt-Del: set 2 without translation; held while the keyboard is disabled; no IRQ when masked', () => {
  const { bus, host, irqs } = sharedController();
  outb(bus, 0x64, 0x60);
  outb(bus, 0x60, 0x04); // translation off, keyboard interrupt off
  outb(bus, 0x64, 0xad); // keyboard disabled
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(inb(bus, 0x64) & 0x01, 0, 'nothing visible while the keyboard clock is off');
  outb(bus, 0x64, 0xae);
  assert.deepEqual(drain(bus), [0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14]);
  assert.equal(irqs(), 0);
});

test('Ctrl-Alt-Del: a guest that never reads the keyboard fills its buffer and the host is told', () => {
  const host = new I8042Host(createI8042State(), { interrupt: () => {} });
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(host.sendCtrlAltDel(), false, 'a fifth sequence does not fit in 32 bytes');
  assert.throws(() => new I8042Host(new SharedArrayBuffer(8), { interrupt: () => {} }), TypeError);
});

test('bytes already waiting raise IRQ 1 once the keyboard is enabled or its interrupt turned on', () => {
  const { bus, host, irqs } = sharedController();
  outb(bus, 0x64, 0xad); // keyboard disabled
  assert.equal(host.sendCtrlAltDel(), true);
  assert.equal(irqs(), 0, 'nothing visible, nothing raised');
  outb(bus, 0x64, 0xae);
  assert.equal(irqs(), 1, 'enabling the keyboard shows the waiting byte and raises IRQ 1');
  outb(bus, 0x64, 0xae);
  assert.equal(irqs(), 1, 'enabling it again changes nothing');
  assert.equal(drain(bus).length, 8);

  const masked = sharedController();
  outb(masked.bus, 0x64, 0x60);
  outb(masked.bus, 0x60, 0x64); // keyboard interrupt off (translation on, system flag)
  assert.equal(masked.host.sendCtrlAltDel(), true);
  assert.equal(masked.irqs(), 0);
  outb(masked.bus, 0x64, 0x60);
  assert.equal(masked.irqs(), 0, 'the command alone turns nothing on');
  outb(masked.bus, 0x60, 0x65); // interrupt bit set
  assert.equal(masked.irqs(), 1, 'the interrupt turned on raises IRQ 1 for the waiting byte');
});

test('the keyboard interrupt is raised with the lock held, from the host and from the guest\'s accesses', () => {
  const state = createI8042State();
  const lock = new Int32Array(state, 0, 1);
  const held: boolean[] = [];
  const seen = (): void => void held.push(Atomics.load(lock, 0) !== 0);
  const bus = new Bus();
  bus.insert(0x60, 5, new I8042({ state, onReset: () => {}, interrupt: seen }));
  const host = new I8042Host(state, { interrupt: seen });
  assert.equal(host.sendCtrlAltDel(), true);
  drain(bus);
  assert.ok(held.length >= 2, `interrupts seen: ${held.length}`);
  assert.deepEqual(held, held.map(() => true), 'each interrupt came while the i8042 lock was held');
});
