import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTestKernelOutput } from '../../src/guest/test-kernel-output';
import { fioArgs, fioEngines } from '../../bench/fio';
import { blkOps, exitRates, fioFigures, netbenchFigures, netPeerFigures } from '../../bench/parse';

// What the test kernel printed under QEMU microvm on this project's host (test=exits, then test=blkbench).
const EXITS = `tsvmm-guest: hello
TSVMM-DATA: exits reg=queue_num_max n=5000 us=143796 ns_per_exit=28759 exits_per_s=34771 tsc_khz=2596128 tsc_source=kvmclock value=1024
TSVMM-DATA: exits reg=interrupt_status n=5000 us=172668 ns_per_exit=34533 exits_per_s=28957 tsc_khz=2596128 tsc_source=kvmclock value=0
TSVMM-DATA: exits reg=config8 n=5000 us=187917 ns_per_exit=37583 exits_per_s=26607 tsc_khz=2596128 tsc_source=kvmclock value=0
TSVMM-DATA: exits register_accesses=15005 notifies=0 chains=0
TSVMM-TEST: PASS exits
`;
const BLKBENCH = `tsvmm-guest: hello\r
TSVMM-DATA: blkbench region=67108864 capacity=131072 tsc_khz=2596128 tsc_source=kvmclock\r
TSVMM-DATA: blkbench op=randread bs=4096 qd=1 ios=4720 bytes=19333120 us=300012 iops=15732 mbps=64.44\r
TSVMM-DATA: blkbench op=randread bs=4096 qd=32 ios=23369 bytes=95719424 us=300001 iops=77896 mbps=319.06\r
TSVMM-DATA: blkbench op=seqread bs=1048576 qd=1 ios=1518 bytes=1591738368 us=299937 iops=5061 mbps=5306.94\r
TSVMM-TEST: PASS blkbench\r
`;

describe('bench parsers', () => {
  it('exits: the rate of each register, by name', () => {
    const r = exitRates(parseTestKernelOutput(EXITS));
    assert.deepEqual([...r], [['queue_num_max', 34771], ['interrupt_status', 28957], ['config8', 26607]]);
  });

  it('blkbench: one entry per operation line, the region line left out, CRs tolerated', () => {
    assert.deepEqual(blkOps(parseTestKernelOutput(BLKBENCH)), [
      { op: 'randread', bs: 4096, qd: 1, iops: 15732, mbps: 64.44 },
      { op: 'randread', bs: 4096, qd: 32, iops: 77896, mbps: 319.06 },
      { op: 'seqread', bs: 1048576, qd: 1, iops: 5061, mbps: 5306.94 },
    ]);
  });

  it('a field that is not a number is an error naming it', () => {
    const bad = 'TSVMM-DATA: blkbench op=randread bs=4096 qd=1 iops=fast mbps=1.00\n';
    assert.throws(() => blkOps(parseTestKernelOutput(bad)), /iops=fast is not a number/);
  });

  it('netbench: one entry per tx or rx line; the device, ready, totals lines and other tests are left out', () => {
    const text = [
      'tsvmm-guest: hello',
      'TSVMM-DATA: netbench mac=52:54:00:12:34:56 features=0x130000000 mrg=1 rxbuf=2048 rxbufs=128 tsc_khz=2596128',
      'TSVMM-DATA: netbench op=tx frame=1514 payload=1472 frames=250000 bytes=378500000 us=2000000 fps=125000 gbps=1.514',
      'TSVMM-DATA: blkbench op=tx frame=1 frames=1 bytes=1 us=1 fps=1 gbps=1.000',
      'TSVMM-DATA: netbench ready=rx ip=10.99.0.2 port=9 mac=52:54:00:12:34:56',
      'TSVMM-DATA: netbench op=rx frame=1514 frames=100000 bytes=151400000 us=1000000 fps=99999 gbps=1.211 lost=7 other=0',
      'TSVMM-DATA: netbench drained=0 late=0 tx_frames=250003 tx_bytes=378500126 rx_frames=100002 rx_bytes=151400084',
      'TSVMM-TEST: PASS netbench',
    ].join('\n');
    assert.deepEqual(netbenchFigures(text), [
      { op: 'tx', frame: 1514, frames: 250000, bytes: 378500000, us: 2000000, fps: 125000, gbps: 1.514 },
      { op: 'rx', frame: 1514, frames: 100000, bytes: 151400000, us: 1000000, fps: 99999, gbps: 1.211 },
    ]);
    assert.deepEqual(netbenchFigures(EXITS), []);
  });

  it('fio JSON: the figures of the direction asked for, even after a warning line', () => {
    const json = 'fio: note: something\n' + JSON.stringify({
      'fio version': 'fio-3.33',
      jobs: [{ jobname: 'host-limit', read: { iops: 565646.7, bw_bytes: 2316888910 }, write: { iops: 0, bw_bytes: 0 } }],
    });
    assert.deepEqual(fioFigures(json, 'read'), { iops: 565646.7, mbps: 2316.88891 });
    assert.deepEqual(fioFigures(json, 'write'), { iops: 0, mbps: 0 });
    assert.throws(() => fioFigures('fio: engine io_uring not loadable', 'read'), /fio: output is not JSON/);
    assert.throws(() => fioFigures('{"jobs": []}', 'read'), /fio: no read figures/);
  });

  it('fio runs buffered, at the guest\'s depth, leaving the page cache alone; psync only at depth 1', () => {
    const args = fioArgs('/x/disk.img', 64 << 20, 300, { op: 'randread', bs: 4096, qd: 32 }, 'io_uring');
    for (const a of ['--filename=/x/disk.img', '--rw=randread', '--bs=4096', '--iodepth=32', '--ioengine=io_uring',
      '--direct=0', '--invalidate=0', '--size=67108864', '--runtime=300ms', '--output-format=json']) {
      assert.ok(args.includes(a), a);
    }
    assert.ok(fioArgs('/f', 1, 1, { op: 'seqwrite', bs: 1 << 20, qd: 1 }, 'psync').includes('--rw=write'));
    assert.deepEqual(fioEngines({ op: 'randread', bs: 4096, qd: 32 }), ['io_uring']);
    assert.deepEqual(fioEngines({ op: 'seqread', bs: 1 << 20, qd: 1 }), ['io_uring', 'psync']);
  });

  it('net-peer: its one result line', () => {
    assert.deepEqual(netPeerFigures('net-peer frames=624633 bytes=945694362 us=800000\n'),
      { frames: 624633, bytes: 945694362, us: 800000 });
    assert.throws(() => netPeerFigures('TUNSETIFF: Device or resource busy\n'), /net-peer printed no result: TUNSETIFF/);
  });
});
