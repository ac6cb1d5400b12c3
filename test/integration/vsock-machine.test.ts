// A machine with a vsock device owns a listening unix socket: it is there while the machine runs, a second machine
// cannot take the same path, and stopping gives back the listener, its file, the connections and every fd.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';
import { HostEnd } from '../helpers/vsock-host';
import { until } from '../helpers/wait';

const skip = kvmUnavailable();
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

describe('a vsock machine on /dev/kvm', { skip, timeout: 60_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-vsock-m-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('listens while it runs, refuses a taken path, and gives everything back when stopped', async () => {
    const kernel = path.join(dir, 'spin.elf');
    fs.writeFileSync(kernel, pvhElf(GUEST_CODE.helloThenSpin));
    const socket = path.join(dir, 'v.sock');
    const config = validateConfig({ kernel, memory: '64M', serial: { mode: 'none' }, onHalt: 'wait',
      devices: [{ type: 'vsock', cid: 3, socket }] });
    const fdsBefore = openFds();
    let out = '';
    const m = Machine.create(config, { consoleOutput: (c) => { out += c.toString('latin1'); } });
    m.start();
    await until(() => out.includes('hi\n'), 'the guest\'s hello', 30_000, { everyMs: 20 });
    assert.ok(fs.statSync(socket).isSocket());
    assert.throws(() => Machine.create(config), (e: unknown) =>
      e instanceof ConfigError && /devices\[0\]\.socket: .*already exists/.test(e.message));

    // This guest has no vsock driver: the CONNECT waits for one until the machine ends.
    const host = HostEnd.connectTo(socket, 5);
    await until(() => m.deviceCounters()[0]!.connectionsOpen === 1, 'the connection', 10_000);

    assert.equal((await m.stop()).reason, 'stopped');
    await host.gone;
    assert.equal(fs.existsSync(socket), false);
    assert.equal(openFds(), fdsBefore);
  });
});
