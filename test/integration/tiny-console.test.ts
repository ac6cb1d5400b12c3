// virtio-console from the tiny test kernel on tsvmm: the guest greets on the transmit queue, then echoes what the
// host puts on the receive queue until a line "quit".
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConsoleDevice } from '../../src/devices/console';
import { dataWith } from '../../src/guest/test-kernel-output';
import { FNV1A_INIT, fnv1aHex, fnv1aUpdate } from '../helpers/fnv';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny } from '../helpers/tiny';

const skip = kvmUnavailable();
const GREETING = 'tsvmm-console: ready\n';

describe('tiny test kernel: virtio-console echo on tsvmm', { skip, timeout: 120_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-console-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('greets, echoes every byte it is sent, and stops at "quit"', async () => {
    const out = path.join(dir, 'hvc.out');
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}\n`);
    const sent = Buffer.from(lines.join('') + 'quit\n', 'latin1');
    const r = await runTiny({
      cmdline: 'test=console', devices: [{ type: 'console', backend: 'file', path: out }],
      during: async (m, output) => {
        await output.until(() => fs.existsSync(out) && fs.readFileSync(out, 'latin1').includes(GREETING),
          `${JSON.stringify(GREETING)} in ${out}`, 30_000);
        const device = m.virtioDevice(0);
        assert.ok(device instanceof ConsoleDevice);
        // In pieces, as a terminal would deliver them; more than the guest's receive buffers hold at once.
        for (let at = 0; at < sent.length; at += 1000) device.input(sent.subarray(at, at + 1000));
      },
    });
    assert.deepEqual(r.verdict, { test: 'console', passed: true }, r.text);
    assert.equal(fs.readFileSync(out, 'latin1'), GREETING + sent.toString('latin1'));
    const [echo] = dataWith(r, 'bytes', 'fnv1a');
    assert.equal(Number(echo!.bytes), sent.length);
    assert.equal(Number(echo!.lines), lines.length + 1);
    assert.equal(BigInt(echo!.fnv1a!), BigInt(fnv1aHex(fnv1aUpdate(FNV1A_INIT, sent))));
    const hvc = r.devices[0]!;
    assert.equal(hvc.inputBytes, sent.length);
    assert.equal(hvc.outputBytes, GREETING.length + sent.length);
    assert.equal(hvc.droppedInput, 0);
  });
});
