// A net device in a snapshot: the tiny test kernel pings the host's IP stack over a tap in a private network
// namespace (test=net), is paused mid-way with receive buffers held by the device, written, killed, and restored on
// the same tap; the restored guest goes on pinging on the restored rings and passes, every reply checked byte for
// byte. The device's MAC is a random one, which the snapshot keeps. The machines run in a child process inside
// the namespace, where the tap is.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { makeTapNamespace, netUnavailable, type TapNamespace } from '../helpers/netns';
import { testKernel } from '../helpers/tiny';

const skip = kvmUnavailable() ?? netUnavailable();
const TAP = 'snaptap0';
const HOST_IP = '10.254.77.1';
const GUEST_IP = '10.254.77.2';
const PINGS = 3000;
const LIMIT_MS = 300_000;

/** In the namespace: boot, pause after 40 replies, snapshot, kill, restore, and report both consoles as JSON. */
const CHILD = `
const dist = ${JSON.stringify(path.join(REPO, 'dist'))};
const { createVm } = require(dist + '/src/api/create.js');
const { restoreVm } = require(dist + '/src/api/restore.js');
const { OutputWatch, until } = require(dist + '/test/helpers/wait.js');
const { readSnapshot } = require(dist + '/src/vmm/snapshot/format.js');
const [kernel, tap, cmdline, snap, limit] = JSON.parse(process.argv[2]);
const watch = (vm) => {
  const out = new OutputWatch(() => 'machine ' + vm.state);
  vm.console.on('data', (d) => out.append(d.toString('latin1')));
  void vm.wait().then((e) => out.end('the machine ended (' + e.reason + ': ' + e.detail + ')'));
  return out;
};
(async () => {
  const vm = await createVm({ kernel, memory: '64M', cmdline, devices: [{ type: 'net', tap }] });
  const first = watch(vm);
  vm.start();
  const rx = () => vm.counters().devices[0].counters.rxFrames || 0;
  await until(() => rx() >= 40, '40 frames to the guest', limit, { everyMs: 1,
    gone: () => (vm.state === 'exited' ? 'the machine ended' : undefined) });
  await vm.pause();
  await vm.snapshot(snap);
  await vm.kill();
  const saved = JSON.parse(readSnapshot(snap).sections.get('virtio0').toString()).device;
  const again = await restoreVm(snap);
  const second = watch(again);
  await second.waitFor(/TSVMM-TEST: (PASS|FAIL) net/, limit);
  const device = again.counters().devices[0].counters;
  await again.kill();
  process.stdout.write(JSON.stringify({ before: first.text(), after: second.text(), device, saved }) + '\\n');
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\\n'); process.exitCode = 1; });
`;

describe('a net device in a snapshot of the tiny test kernel', { skip, timeout: 2 * LIMIT_MS }, () => {
  let ns: TapNamespace | undefined;
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-net-'));
    ns = makeTapNamespace({ name: `tsvmm-snap-net-${process.pid}`, tap: TAP, hostIp: HOST_IP, noIpv6: true });
  });
  after(() => {
    ns?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is restored mid-way through the pings, and the restored guest finishes them on the same tap', async () => {
    const script = path.join(dir, 'child.js');
    fs.writeFileSync(script, CHILD);
    const args = [await testKernel(), TAP, `test=net net_ip=${GUEST_IP} net_host=${HOST_IP} net_count=${PINGS}`,
      path.join(dir, 'snap'), LIMIT_MS];
    const out = execFileSync('ip', ['netns', 'exec', ns!.name, process.execPath, script, JSON.stringify(args)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 2 * LIMIT_MS });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { before: string; after: string; device: Record<string, number>;
      saved: { mac: string; rxHeads: number[] } };
    assert.doesNotMatch(r.before, /TSVMM-TEST/, 'the guest was still pinging when it was paused');
    // The device had taken a receive buffer ahead of the next reply: the restored one took it back by its head.
    assert.ok(r.saved.rxHeads.length >= 1, JSON.stringify(r.saved));
    assert.match(r.before, new RegExp(`mac=${r.saved.mac}`), 'the snapshot kept the random MAC the guest read');
    assert.match(r.after, /TSVMM-TEST: PASS net/, r.after.slice(-600));
    const stats = /TSVMM-DATA: net pings=(\d+)/.exec(r.after);
    assert.equal(Number(stats?.[1]), PINGS, r.after.slice(-600));
    assert.ok(r.device.rxFrames! > 0 && r.device.txFrames! > 0, JSON.stringify(r.device));
    for (const k of ['errors', 'failures', 'txDropped', 'backendErrors']) assert.equal(r.device[k], 0, `${k}: ${JSON.stringify(r.device)}`);
  });
});
