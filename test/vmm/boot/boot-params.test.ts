import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeZeroPage, ZP } from '../../../src/vmm/boot/boot-params';
import { parseBzImage } from '../../../src/vmm/boot/bzimage';
import { e820Table, ZERO_PAGE_ADDR } from '../../../src/vmm/boot/layout';
import { GuestMemory } from '../../../src/base/guest-memory';
import { buildBzImage } from './fixtures';

const MiB = 1024 * 1024;

function zeroPage(mem: GuestMemory): DataView {
  return mem.view(ZERO_PAGE_ADDR, 4096);
}

test('a vmlinux gets a minimal setup header at the protocol offsets', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * MiB }]);
  mem.fill(ZERO_PAGE_ADDR, 4096, 0xee);
  const addr = writeZeroPage(mem, { cmdlineAddr: 0x20000, cmdlineCapacity: 0x10000, e820: e820Table(16 * MiB) });
  assert.equal(addr, 0x7000);
  const zp = zeroPage(mem);
  assert.equal(zp.getUint16(0x1fe, true), 0xaa55, 'boot_flag');
  assert.equal(zp.getUint32(0x202, true), 0x53726448, 'header "HdrS"');
  assert.equal(zp.getUint16(0x206, true), 0x020f, 'version');
  assert.equal(zp.getUint8(0x210), 0xff, 'type_of_loader');
  assert.equal(zp.getUint8(0x211), 0x81, 'loadflags LOADED_HIGH | CAN_USE_HEAP');
  assert.equal(zp.getUint16(0x224, true), 0xfe00, 'heap_end_ptr');
  assert.equal(zp.getUint32(0x228, true), 0x20000, 'cmd_line_ptr');
  assert.equal(zp.getUint32(0x0c8, true), 0, 'ext_cmd_line_ptr');
  assert.equal(zp.getUint32(0x230, true), 0x200000, 'kernel_alignment');
  assert.equal(zp.getUint32(0x238, true), 0xffff, 'cmdline_size');
  assert.equal(zp.getUint32(0x218, true), 0, 'no ramdisk');
  assert.equal(zp.getUint8(ZP.SENTINEL), 0, 'sentinel stays 0');
  assert.equal(zp.getUint8(0x100), 0, 'the rest of the page is cleared');
});

test('the e820 table sits at 0x2d0 with its count at 0x1e8', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * MiB }]);
  const e820 = e820Table(16 * MiB);
  writeZeroPage(mem, { cmdlineAddr: 0x20000, cmdlineCapacity: 0x10000, e820 });
  const zp = zeroPage(mem);
  assert.equal(zp.getUint8(0x1e8), 3);
  const read = [0, 1, 2].map((i) => ({
    addr: Number(zp.getBigUint64(0x2d0 + i * 20, true)),
    size: Number(zp.getBigUint64(0x2d0 + i * 20 + 8, true)),
    type: zp.getUint32(0x2d0 + i * 20 + 16, true),
  }));
  assert.deepEqual(read, e820);
  assert.equal(zp.getUint32(0x2d0 + 3 * 20 + 16, true), 0, 'nothing past the count');
});

test('ramdisk and cmdline addresses are split into low and ext_ halves', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * MiB }]);
  writeZeroPage(mem, {
    cmdlineAddr: 0x1_2345_6000, cmdlineCapacity: 0x800, e820: [],
    initrd: { addr: 0x2_0000_1000, size: 0x1_0000_0200 },
  });
  const zp = zeroPage(mem);
  assert.equal(zp.getUint32(0x228, true), 0x2345_6000);
  assert.equal(zp.getUint32(0x0c8, true), 1);
  assert.equal(zp.getUint32(0x218, true), 0x1000, 'ramdisk_image');
  assert.equal(zp.getUint32(0x0c0, true), 2, 'ext_ramdisk_image');
  assert.equal(zp.getUint32(0x21c, true), 0x200, 'ramdisk_size');
  assert.equal(zp.getUint32(0x0c4, true), 1, 'ext_ramdisk_size');
});

test('a bzImage header is copied as it is, with the loader fields filled in', () => {
  const img = parseBzImage(buildBzImage({ cmdlineSize: 2047, loadflags: 0x21 }));
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * MiB }]);
  writeZeroPage(mem, {
    setupHeader: img.setupHeader, cmdlineAddr: 0x20000, cmdlineCapacity: 0x10000, e820: [],
    initrd: { addr: 0x3000000, size: 0x1234 },
  });
  const zp = zeroPage(mem);
  assert.equal(zp.getUint32(0x238, true), 2047, "the kernel's own cmdline_size survives");
  assert.equal(zp.getUint32(0x268, true), 0x12345, 'fields beyond those the VMM knows survive');
  assert.equal(zp.getBigUint64(0x258, true), 0x1000000n, 'pref_address');
  assert.equal(zp.getUint8(0x211), 0xa1, 'loadflags keep QUIET and gain CAN_USE_HEAP');
  assert.equal(zp.getUint8(0x210), 0xff);
  assert.equal(zp.getUint32(0x218, true), 0x3000000);
  assert.equal(zp.getUint32(0x21c, true), 0x1234);
  assert.equal(zp.getUint8(0x1f0), 0, 'nothing written before the header');
});

test('more than 128 memory map entries do not fit', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * MiB }]);
  const e820 = Array.from({ length: 129 }, (_, i) => ({ addr: i * 4096, size: 4096, type: 1 }));
  assert.throws(() => writeZeroPage(mem, { cmdlineAddr: 0, cmdlineCapacity: 1, e820 }), { name: 'BootError' });
});
