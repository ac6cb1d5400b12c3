// virtio-input through the tiny test kernel's own polling driver: the config space it queries (name, EV bits, ABS
// ranges) and the events the host injects with Machine.sendInput, in order and intact.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { dataWith, numberField, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { QemuMonitor } from '../helpers/qemu-monitor';
import { qemuUnavailable, runQemuTiny, runTiny } from '../helpers/tiny';

const skip = kvmUnavailable();
const skipQemu = qemuUnavailable();
/** Under the nested test host a tiny guest runs in seconds; this only bounds a guest that stops answering. */
const LIMIT_MS = 120_000;
const EV_SYN = 0;
const EV_KEY = 1;
const EV_ABS = 3;
const KEY_A = 30;
const ABS_X = 0;
const ABS_Y = 1;
const BTN_LEFT = 0x110;

/** The guest's `event` lines as [type, code, value]. */
const events = (r: TestKernelOutput): number[][] =>
  dataWith(r, 'type', 'code', 'value').map((f) => [numberField(f, 'type'), numberField(f, 'code'), numberField(f, 'value')]);

describe('tiny test kernel: virtio-input on tsvmm', { skip, timeout: 3 * LIMIT_MS }, () => {
  it('a keyboard: its name and key bits, then a key press and release as the host sent them', async () => {
    const sent = [[EV_KEY, KEY_A, 1], [EV_SYN, 0, 0], [EV_KEY, KEY_A, 0], [EV_SYN, 0, 0]];
    const r = await runTiny({
      cmdline: 'test=input input_events=4', devices: [{ type: 'input', kind: 'keyboard' }], timeoutMs: LIMIT_MS,
      during: async (m, out) => {
        await out.waitFor('TSVMM-DATA: input ready', LIMIT_MS);
        const queued = m.sendInput(0, sent.map(([type, code, value]) => ({ type: type!, code: code!, value: value! })));
        assert.equal(queued, sent.length);
      },
    });
    assert.deepEqual(r.verdict, { test: 'input', passed: true }, r.text);
    const [info] = dataWith(r, 'name', 'key_bits');
    assert.match(r.text, /name="tsvmm virtio keyboard"/);
    assert.ok(numberField(info!, 'key_bits') >= 31, 'the key bitmap reaches key 248');
    assert.equal(numberField(info!, 'abs_bits'), 0);
    assert.deepEqual(events(r), sent);
  });

  it('a tablet: ABS_X over 0..32767, then a move and a click as the host sent them', async () => {
    const sent = [[EV_ABS, ABS_X, 100], [EV_ABS, ABS_Y, 32767], [EV_KEY, BTN_LEFT, 1], [EV_SYN, 0, 0]];
    const r = await runTiny({
      cmdline: 'test=input input_events=4', devices: [{ type: 'input', kind: 'tablet' }], timeoutMs: LIMIT_MS,
      during: async (m, out) => {
        await out.waitFor('TSVMM-DATA: input ready', LIMIT_MS);
        m.sendInput(0, sent.map(([type, code, value]) => ({ type: type!, code: code!, value: value! })));
      },
    });
    assert.deepEqual(r.verdict, { test: 'input', passed: true }, r.text);
    assert.match(r.text, /name="tsvmm virtio tablet"/);
    const [range] = dataWith(r, 'min', 'max');
    assert.equal(numberField(range!, 'min'), 0);
    assert.equal(numberField(range!, 'max'), 32767);
    assert.deepEqual(events(r), sent);
  });
});

// The same driver against QEMU's virtio-keyboard-device, whose keys come from its monitor (`sendkey a`: a press and a
// release, each followed by a SYN_REPORT).
describe('tiny test kernel: the same virtio-input driver under QEMU microvm', { skip: skipQemu, timeout: 2 * LIMIT_MS }, () => {
  it('QEMU\'s keyboard: its EV_KEY bits, then the key pressed and released from the monitor', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-input-'));
    const socket = path.join(dir, 'monitor.sock');
    try {
      const r = await runQemuTiny('test=input input_events=4',
        ['-device', 'virtio-keyboard-device', '-monitor', `unix:${socket},server=on,wait=off`], LIMIT_MS,
        async (output) => {
          const monitor = await QemuMonitor.connect(socket, 10_000);
          try {
            await output.waitFor('TSVMM-DATA: input ready', LIMIT_MS);
            await monitor.command('sendkey a');
          } finally {
            monitor.close();
          }
        });
      assert.deepEqual(r.verdict, { test: 'input', passed: true }, r.text);
      assert.equal(r.code, 1, r.text);
      assert.ok(numberField(dataWith(r, 'name', 'key_bits')[0]!, 'key_bits') > 0, r.text);
      assert.deepEqual(events(r), [[EV_KEY, KEY_A, 1], [EV_SYN, 0, 0], [EV_KEY, KEY_A, 0], [EV_SYN, 0, 0]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
