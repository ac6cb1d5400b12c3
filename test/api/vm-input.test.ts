// vm.input over real virtio-input device models (no machine, no driver: what is sent stays pending, where the test
// reads it), and POST /input/key, /input/type, /input/pointer through the client: the device each call picks, the
// screen a position is scaled from, the all-or-nothing queue, and each refusal naming its argument or body field.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { VmError } from '../../src/api/errors';
import { ApiServer } from '../../src/api/server';
import type { Vm } from '../../src/api/vm';
import { VmInput } from '../../src/api/vm-input';
import type { GpuDevice } from '../../src/devices/gpu/device';
import { ABS_X, ABS_Y, BTN_LEFT, EV, InputDevice, MAX_PENDING_EVENTS, TABLET_MAX, type InputEvent } from '../../src/devices/input';
import { validateConfig, type MachineConfigInput } from '../../src/vmm/config';
import { failure } from '../helpers/api-failure';

let dir: string;
let kernel: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-input-'));
  kernel = path.join(dir, 'vmlinux');
  fs.writeFileSync(kernel, 'not run by these tests');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Rig {
  input: VmInput;
  /** The models behind the config's input devices, by index. */
  devices: Map<number, InputDevice>;
  /** The events each device was sent, by index. */
  sent: Map<number, InputEvent[]>;
  state: { now: string };
  frame: { width: number; height: number } | undefined;
}

function rig(devices: MachineConfigInput['devices']): Rig {
  const config = validateConfig({ kernel, devices }, { baseDir: dir });
  const models = new Map<number, InputDevice>();
  config.devices.forEach((d, i) => { if (d.type === 'input') models.set(i, new InputDevice(d.kind)); });
  const r: Rig = { devices: models, sent: new Map(), state: { now: 'running' }, frame: undefined } as Rig;
  const gpu = { scanoutFrame: () => r.frame } as unknown as GpuDevice;
  r.input = new VmInput({
    config: () => config,
    send: (device, events) => {
      r.sent.set(device, [...(r.sent.get(device) ?? []), ...events]);
      return models.get(device)!.inject(events);
    },
    room: (device) => models.get(device)!.room(),
    gpu: () => (config.devices.some((d) => d.type === 'gpu') ? gpu : undefined),
    check: (op) => { if (r.state.now !== 'running') throw new VmError('ERR_VM_STATE', `cannot ${op}: the machine is ${r.state.now}`); },
  });
  return r;
}

const keyboard = { type: 'input', kind: 'keyboard' } as const;
const tablet = { type: 'input', kind: 'tablet' } as const;
const codes = (events: InputEvent[] | undefined): number[] =>
  (events ?? []).filter((e) => e.type === EV.KEY).map((e) => e.code * 2 + e.value);

test('key() and type() go to the first keyboard, or the one named; they answer how many events were queued', () => {
  const r = rig([{ type: 'rng' }, tablet, keyboard, keyboard]);
  assert.equal(r.input.key('Enter'), 4);
  assert.equal(r.input.key('c', { modifiers: ['LeftCtrl'], device: 3 }), 8);
  assert.equal(r.input.key(30, { action: 'press' }), 2);
  assert.equal(r.input.type('Hi!\n'), 24);
  assert.deepEqual(codes(r.sent.get(3)), [29 * 2 + 1, 46 * 2 + 1, 46 * 2, 29 * 2]);
  assert.equal(r.sent.get(2)!.length, 4 + 2 + 24);
  assert.equal(r.devices.get(2)!.counters().pending, 30);
  assert.equal(r.sent.get(1), undefined, 'the tablet got no keys');
});

test('a machine without a keyboard or tablet, or a device of the wrong kind, is ERR_VM_NO_DEVICE saying what to add', () => {
  const noKeyboard = rig([tablet]);
  assert.throws(() => noKeyboard.input.key('a'), (e: Error & { code?: string }) => e.code === 'ERR_VM_NO_DEVICE'
    && e.message.includes('no keyboard') && e.message.includes('{type: input, kind: keyboard}'));
  assert.throws(() => noKeyboard.input.type('a'), { code: 'ERR_VM_NO_DEVICE' });
  const noTablet = rig([keyboard]);
  assert.throws(() => noTablet.input.pointer(0, 0), /no tablet \(add \{type: input, kind: tablet\} to devices\)/);
  assert.throws(() => noTablet.input.key('a', { device: 1 }), { code: 'ERR_OUT_OF_RANGE', argument: 'device' });
  const both = rig([keyboard, tablet, { type: 'rng' }]);
  assert.throws(() => both.input.key('a', { device: 1 }), { code: 'ERR_VM_NO_DEVICE', message: 'devices[1] is a tablet, not a keyboard' });
  assert.throws(() => both.input.pointer(0, 0, undefined, { device: 2 }), { message: 'devices[2] is a rng, not a tablet' });
});

test('bad arguments are refused before the device or the state is looked at, and nothing is sent', () => {
  const r = rig([keyboard]);
  r.state.now = 'paused';
  assert.throws(() => r.input.key('NoSuchKey'), { argument: 'key' });
  assert.throws(() => r.input.key('a', { action: 'hold' as never }), { argument: 'action' });
  assert.throws(() => r.input.key('a', { modifiers: ['Ctrl', 'Hyper'] }), { argument: 'modifiers[1]' });
  assert.throws(() => r.input.key('a', { modifiers: 'Ctrl' as never }), { argument: 'modifiers' });
  assert.throws(() => r.input.key('a', { shift: true } as never), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => r.input.type('caf\u00e9'), /character 3, "\u00e9" \(U\+00E9\)/);
  assert.throws(() => r.input.type('a'.repeat(5000)), { argument: 'text' });
  assert.throws(() => r.input.key('a'), { code: 'ERR_VM_STATE' });
  assert.equal(r.sent.size, 0);
});

test('a call that does not fit the queue is ERR_VM_INPUT_FULL and sends nothing; one that fits is sent whole', () => {
  const r = rig([keyboard]);
  const dev = r.devices.get(0)!;
  dev.inject(Array.from({ length: MAX_PENDING_EVENTS - 10 }, () => ({ type: EV.SYN, code: 0, value: 0 })));
  assert.throws(() => r.input.type('ABC'), (e: Error & { code?: string }) => e.code === 'ERR_VM_INPUT_FULL'
    && /room for 10 more events and this is 24/.test(e.message));
  assert.equal(r.sent.size, 0);
  assert.equal(r.input.type('ab'), 8);
  assert.throws(() => r.input.key('Enter'), { code: 'ERR_VM_INPUT_FULL' }, 'room for 2, a tap is 4');
  assert.equal(r.input.key('Enter', { action: 'press' }), 2);
  assert.equal(dev.room(), 0);
  assert.equal(dev.counters().dropped, 0);
});

test('pointer(): scaled from the scanout, else the gpu\'s mode, else tablet units; buttons send only their changes', () => {
  const withGpu = rig([tablet, { type: 'gpu', width: 800, height: 600 }]);
  withGpu.input.pointer(799, 599);
  withGpu.frame = { width: 101, height: 11 };
  withGpu.input.pointer(50, 10, ['left']);
  assert.deepEqual(withGpu.sent.get(0), [
    { type: EV.ABS, code: ABS_X, value: TABLET_MAX }, { type: EV.ABS, code: ABS_Y, value: TABLET_MAX }, { type: EV.SYN, code: 0, value: 0 },
    { type: EV.ABS, code: ABS_X, value: Math.round(TABLET_MAX / 2) }, { type: EV.ABS, code: ABS_Y, value: TABLET_MAX },
    { type: EV.KEY, code: BTN_LEFT, value: 1 }, { type: EV.SYN, code: 0, value: 0 },
  ]);
  assert.throws(() => withGpu.input.pointer(101, 0), { argument: 'x' }, 'off the scanout');
  const noGpu = rig([tablet]);
  assert.equal(noGpu.input.pointer(1234, TABLET_MAX, 1), 4);
  assert.equal(noGpu.input.pointer(5, 5), 3, 'buttons left out stay as they are');
  assert.equal(noGpu.input.pointer(5, 5, 1), 3, 'held already: nothing to send for it');
  assert.equal(noGpu.input.pointer(99, 9, 0, { width: 100, height: 10 }), 4);
  const sent = noGpu.sent.get(0)!;
  assert.deepEqual(sent.slice(0, 2).map((e) => e.value), [1234, TABLET_MAX]);
  assert.deepEqual(sent.slice(-4), [
    { type: EV.ABS, code: ABS_X, value: TABLET_MAX }, { type: EV.ABS, code: ABS_Y, value: TABLET_MAX },
    { type: EV.KEY, code: BTN_LEFT, value: 0 }, { type: EV.SYN, code: 0, value: 0 },
  ]);
  assert.throws(() => noGpu.input.pointer(0, 0, undefined, { width: 100 }), { argument: 'height' });
});

test('a refused pointer move keeps the buttons it had: the next move still releases what is down', () => {
  const r = rig([tablet]);
  r.input.pointer(0, 0, ['left']);
  const dev = r.devices.get(0)!;
  dev.inject(Array.from({ length: dev.room() }, () => ({ type: EV.SYN, code: 0, value: 0 })));
  assert.throws(() => r.input.pointer(0, 0, []), { code: 'ERR_VM_INPUT_FULL' });
  dev.reset(); // what was pending is gone, as when a driver starts over
  assert.equal(r.input.pointer(0, 0, []), 4, 'the release is still owed');
  assert.equal(r.sent.get(0)!.at(-2)!.value, 0);
});

test('POST /input/key, /input/type, /input/pointer: queued counts, and refusals naming the body field', async () => {
  const r = rig([keyboard, tablet]);
  const config = validateConfig({ kernel, devices: [keyboard, tablet] }, { baseDir: dir });
  const vm = { state: 'running', config, input: r.input } as unknown as Vm;
  const sock = path.join(dir, 'i.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir, vm }));
  try {
    const client = new VmClient(sock);
    assert.equal(await client.key('F1'), 4);
    assert.equal(await client.key('Delete', { modifiers: ['Ctrl', 'Alt'], action: 'tap' }), 12);
    assert.equal(await client.type('Hi!\n'), 24);
    assert.equal(await client.pointer(10, 20, ['left', 'right']), 5);
    assert.equal(await client.pointer(10, 20, 0, { width: 640, height: 480, device: 1 }), 5);
    assert.equal(r.sent.get(0)!.length, 4 + 12 + 24);
    const refusals: [Promise<unknown>, string, string][] = [
      [client.key('Nope'), 'key', 'ERR_OUT_OF_RANGE'],
      [client.key('a', { action: 'hold' as never }), 'action', 'ERR_OUT_OF_RANGE'],
      [client.key('a', { modifiers: ['Ctrl', 7000] }), 'modifiers[1]', 'ERR_OUT_OF_RANGE'],
      [client.key('a', { device: 1 }), '', 'ERR_VM_NO_DEVICE'],
      [client.key('a', { device: 9 }), 'device', 'ERR_OUT_OF_RANGE'],
      [client.type('\u00e9'), 'text', 'ERR_OUT_OF_RANGE'],
      [client.type(5 as never), 'text', 'ERR_INVALID_ARG_TYPE'],
      [client.pointer(32768, 0), 'x', 'ERR_OUT_OF_RANGE'],
      [client.pointer(0, 0, ['left', 'back'] as never), 'buttons[1]', 'ERR_OUT_OF_RANGE'],
      [client.pointer(0, 0, undefined, { width: 0, height: 10 }), 'width', 'ERR_OUT_OF_RANGE'],
      [client.request('POST', '/input/key', {}), 'key', 'ERR_CONFIG'],
      [client.request('POST', '/input/pointer', { x: 1 }), 'y', 'ERR_CONFIG'],
      [client.request('POST', '/input/type', { text: 'a', shift: true }), 'shift', 'ERR_CONFIG'],
    ];
    for (const [p, field, code] of refusals) {
      const e = await failure(p);
      assert.deepEqual([e.status, e.field ?? '', e.code], [code === 'ERR_VM_NO_DEVICE' ? 409 : 400, field, code], e.message);
    }
  } finally {
    await server.close();
  }
});
