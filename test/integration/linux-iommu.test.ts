// virtio-iommu with Linux's own driver: the blk and net devices sit behind the IOMMU (ACPI on, their topology in the
// VIOT), so every ring and buffer access they make goes through the mappings the guest's DMA layer asks for. From
// guest user space: the driver bound, an IOMMU group for each device, a file system written on the disk, and 1 MiB
// each way over TCP. From the host: the image holds the data, the checksums agree, and the IOMMU saw maps, unmaps
// and no faults. The TCP transfer is kept small: Linux maps and unmaps every packet with a synchronous request, and
// the test host's emulator (QEMU TCG's nested SVM) now and then saves its own state as the guest's on one of those
// exits, which hangs the guest; the more requests, the likelier (docs/devices.md, docs/testing.md).
// Needs real hardware virtualization (guest user space), root and taps, like linux-userspace.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { VmClient } from '../../src/api/client';
import type { GuestArtifacts } from '../../src/guest/build';
import { makeTapNamespace, type TapNamespace } from '../helpers/netns';
import { bootToStart, field, killAll, prepareUserspace, STEP_MS, userspaceSkip } from '../userspace/guest-run';
import { makeDisk, readDisk, sha256, startTcpPeer } from '../userspace/host-side';

const skip = userspaceSkip();
const SUITE = 'linux-iommu';
const NS = `tsvmm-iommu-${process.pid}`;
const TAP = 'tsvmmio0';
const HOST_IP = '10.254.79.1';
const GUEST_IP = '10.254.79.2';
const NET_BYTES = 1024 * 1024;

describe('Linux with a disk and net behind virtio-iommu', { skip, timeout: 60 * 60_000 }, () => {
  let guest: GuestArtifacts;
  let initrd: string;
  let dir: string;
  let ns: TapNamespace | undefined;

  before(async () => { ({ guest, initrd, dir } = await prepareUserspace('tsvmm-iommu-')); }, { timeout: 40 * 60_000 });
  afterEach(() => { killAll(); });
  after(() => {
    ns?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the driver binds, each device has a group and moves its data through the guest\'s mappings', async () => {
    ns = makeTapNamespace({ name: NS, tap: TAP, hostIp: HOST_IP, noIpv6: true });
    const peer = await startTcpPeer(NS, HOST_IP, NET_BYTES);
    const disk = path.join(dir, 'disk.img');
    makeDisk(disk);
    const apiSock = path.join(dir, 'api.sock');
    try {
      const config = {
        kernel: guest.vmlinux, initrd, memory: '512M', vcpus: 2, quirks: 'auto', acpi: 'on', log: { level: 'warn' },
        apiSocket: apiSock,
        cmdline: `console=ttyS0 reboot=k panic=-1 ut.mode=iommu ut.ip=${GUEST_IP} ut.peer=${HOST_IP}`,
        devices: [
          { type: 'iommu' },
          { type: 'blk', path: disk, serial: 'iommu-disk', iommu: true },
          { type: 'net', tap: TAP, iommu: true },
        ],
      };
      const g = await bootToStart('iommu', config, dir, [apiSock], NS, SUITE);
      await g.out.waitFor('UT-READY', STEP_MS);
      const counters = await new VmClient(apiSock).counters();
      g.send('reboot -f');
      const end = await g.exited;
      const text = g.out.text();
      assert.equal(end.code, 0, `reboot -f ends tsvmm with 0:\n${g.stderr()}`);
      assert.deepEqual(text.match(/^UT-FAIL.*$/gm) ?? [], [], 'no check failed in the guest');
      assert.match(text, /^UT-IOMMU driver=1 /m, 'virtio_iommu bound to the device');
      // A group for each device behind the IOMMU (the disk's and the net's platform devices), translating.
      const groups = text.match(/^UT-IOMMU-GROUP .*$/gm) ?? [];
      assert.equal(groups.length, 2, `IOMMU groups:\n${groups.join('\n')}`);
      for (const line of groups) assert.match(line, /type=DMA(-FQ)? devices=LNRO0005:/, line);

      const d = readDisk(disk, dir);
      assert.equal(d.fsck, 0, `e2fsck -fn:\n${d.fsckOutput}`);
      assert.equal(sha256(d.files['/random.bin']!), field(text, 'blk', 'random'), 'the disk holds what the guest wrote');
      const { sink, source } = peer.sums();
      assert.equal(sink.bytes, NET_BYTES);
      assert.equal(field(text, 'net-tx', 'guest'), sink.sha256, 'guest -> host');
      assert.equal(field(text, 'net-rx', 'guest'), source.sha256, 'host -> guest');

      const [iommu, blk, net] = counters.devices.map((dv) => dv.counters);
      process.stderr.write(`# iommu counters: ${JSON.stringify(iommu)}\n`);
      assert.ok(iommu!.maps! > 0 && iommu!.unmaps! > 0, `the guest mapped and unmapped: ${JSON.stringify(iommu)}`);
      assert.equal(iommu!.faults, 0, 'no DMA fault');
      assert.ok(blk!.writtenBytes! > 3 * 1024 * 1024, JSON.stringify(blk));
      assert.ok(net!.rxBytes! >= NET_BYTES && net!.txBytes! >= NET_BYTES, JSON.stringify(net));
      for (const c of [iommu!, blk!, net!]) assert.equal(c.failures ?? 0, 0, JSON.stringify(c));
    } finally {
      peer.kill();
    }
  });
});
