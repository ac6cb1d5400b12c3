import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendCmdline, encodeCmdline, virtioMmioDeviceParam, writeCmdline } from '../../../src/vmm/boot/cmdline';
import { CMDLINE_ADDR, virtioMmioSlot } from '../../../src/vmm/boot/layout';
import { GuestMemory } from '../../../src/base/guest-memory';

test('writeCmdline writes NUL-terminated UTF-8 at the fixed address and clears what was there', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 1024 * 1024 }]);
  mem.fill(CMDLINE_ADDR, 0x100, 0x41);
  const r = writeCmdline(mem, 'console=ttyS0 föö');
  assert.deepEqual(r, { addr: CMDLINE_ADDR, length: 19 });
  assert.equal(Buffer.from(mem.read(CMDLINE_ADDR, 19)).toString('utf8'), 'console=ttyS0 föö');
  assert.equal(mem.readU8(CMDLINE_ADDR + 19), 0);
  assert.equal(mem.readU8(CMDLINE_ADDR + 20), 0, 'old bytes cleared');
});

test('the command line is limited by the layout and by the kernel', () => {
  assert.equal(encodeCmdline('x'.repeat(65535)).length, 65536);
  assert.throws(() => encodeCmdline('x'.repeat(65536)),
    { name: 'BootError', message: /^cmdline: 65536 bytes is too long \(at most 65535 fit\)/ });
  assert.throws(() => encodeCmdline('x'.repeat(2048), 2047), { message: /at most 2047 the kernel accepts/ });
  assert.equal(encodeCmdline('x'.repeat(2047), 2047).length, 2048);
  assert.throws(() => encodeCmdline('a\0b'), /NUL/);
});

test('appendCmdline adds key=value items, quoting values with spaces', () => {
  assert.equal(appendCmdline('', 'console', 'ttyS0'), 'console=ttyS0');
  assert.equal(appendCmdline('quiet ', 'virtio_mmio.device', '4K@0xd0000000:5'),
    'quiet virtio_mmio.device=4K@0xd0000000:5');
  assert.equal(appendCmdline('a', 'nopti'), 'a nopti');
  assert.equal(appendCmdline('a', 'lpj', 5000000), 'a lpj=5000000');
  assert.equal(appendCmdline('a', 'init', '/bin/my init'), 'a init="/bin/my init"');
  assert.throws(() => appendCmdline('a', 'bad key'), /not a parameter name/);
  assert.throws(() => appendCmdline('a', 'k', 'say "hi"'), /cannot be put/);
});

test('virtioMmioDeviceParam describes a slot the way virtio_mmio.device= wants it', () => {
  assert.equal(virtioMmioDeviceParam(virtioMmioSlot(0)), '4K@0xd0000000:5');
  assert.equal(appendCmdline('', 'virtio_mmio.device', virtioMmioDeviceParam(virtioMmioSlot(3))),
    'virtio_mmio.device=4K@0xd0003000:8');
});
