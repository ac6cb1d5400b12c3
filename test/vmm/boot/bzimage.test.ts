import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HDR, isBzImage, loadBzImage, parseBzImage, placeBzImage, versionText,
} from '../../../src/vmm/boot/bzimage';
import { GuestMemory } from '../../../src/base/guest-memory';
import { buildBzImage, pattern } from './fixtures';

const MiB = 1024 * 1024;

test('parseBzImage reads the setup header fields the loader needs', () => {
  const file = buildBzImage({ setupSects: 4, initSize: 0x900000, initrdAddrMax: 0x37ffffff, cmdlineSize: 4095 });
  const img = parseBzImage(file);
  assert.equal(img.version, 0x020f);
  assert.equal(img.kernelOffset, 5 * 512);
  assert.equal(img.kernelSize, 0x3000);
  assert.equal(img.relocatable, true);
  assert.equal(img.kernelAlignment, 0x200000);
  assert.equal(img.prefAddress, 0x1000000);
  assert.equal(img.initSize, 0x900000);
  assert.equal(img.initrdAddrMax, 0x37ffffff);
  assert.equal(img.cmdlineMax, 4095);
  // The header runs from 0x1F1 to 0x202 + the jump offset byte (0x6a): 0x26c.
  assert.equal(img.setupHeader.length, 0x26c - 0x1f1);
  assert.deepEqual(img.setupHeader, file.subarray(0x1f1, 0x26c));
  assert.equal(new DataView(img.setupHeader.buffer).getUint32(0x268 - 0x1f1, true), 0x12345);
});

test('setup_sects 0 means 4, and a missing initrd_addr_max gets the protocol default', () => {
  const img = parseBzImage(buildBzImage({ setupSects: 0, initrdAddrMax: 0 }));
  assert.equal(img.kernelOffset, 5 * 512);
  assert.equal(img.initrdAddrMax, 0x37ffffff);
});

test('parseBzImage refuses what it cannot boot, naming why', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['old', buildBzImage({ version: 0x020b }), /boot protocol 2\.11 is older than 2\.12/],
    ['no 64-bit', buildBzImage({ xloadflags: 0x02 }), /lacks XLF_KERNEL_64/],
    ['zImage', buildBzImage({ loadflags: 0 }), /does not load high/],
    ['boot flag', buildBzImage({ bootFlag: 0x1234 }), /boot flag 0x1234 is not 0xaa55/],
    ['short', buildBzImage().subarray(0, 0x240), /too short/],
    ['no payload', buildBzImage({ setupSects: 4 }).subarray(0, 5 * 512), /leaves no protected-mode kernel/],
    ['alignment', buildBzImage({ kernelAlignment: 0x300000 }), /kernel_alignment 0x300000 is not a power of two/],
    ['pref', buildBzImage({ prefAddress: 0x100000000n }), /pref_address 0x100000000 is above 4 GiB/],
  ];
  for (const [what, file, message] of cases) {
    assert.throws(() => parseBzImage(file), (e: Error) => e.name === 'BootError' && message.test(e.message), what);
  }
  assert.equal(isBzImage(new Uint8Array(0x300)), false);
});

test('placeBzImage loads at pref_address and enters 0x200 past it', () => {
  const img = parseBzImage(buildBzImage({ initSize: 0x800000 }));
  assert.deepEqual(placeBzImage(img, 64 * MiB), { loadAddr: 0x1000000, entry64: 0x1000200, end: 0x1800000 });
});

test('placeBzImage without pref_address loads at 1 MiB, aligned when relocatable', () => {
  const fixed = parseBzImage(buildBzImage({ prefAddress: 0n, relocatable: false, initSize: 0x10000 }));
  assert.equal(placeBzImage(fixed, 64 * MiB).loadAddr, 0x100000);
  const reloc = parseBzImage(buildBzImage({ prefAddress: 0n, initSize: 0x10000 }));
  assert.equal(placeBzImage(reloc, 64 * MiB).loadAddr, 0x200000);
});

test('placeBzImage counts init_size, not just the file, against RAM', () => {
  const img = parseBzImage(buildBzImage({ initSize: 0x2000000 }));
  assert.throws(() => placeBzImage(img, 32 * MiB),
    { name: 'BootError', message: /needs guest RAM up to 0x3000000 .* ends at 0x2000000/ });
  assert.equal(placeBzImage(img, 48 * MiB).end, 0x3000000);
});

test('loadBzImage copies only the protected-mode part', () => {
  const payload = pattern(0x3000, 11);
  const file = buildBzImage({ payload });
  const img = parseBzImage(file);
  const mem = GuestMemory.forTest([{ gpa: 0, size: 32 * MiB }]);
  loadBzImage(mem, file, img, placeBzImage(img, 32 * MiB));
  assert.deepEqual(mem.read(0x1000000, payload.length), payload);
  assert.equal(mem.readU8(0x1000000 - 1), 0);
});

test('versionText and HDR offsets follow the boot protocol', () => {
  assert.equal(versionText(0x020c), '2.12');
  assert.equal(HDR.XLOADFLAGS, 0x236);
  assert.equal(HDR.CMD_LINE_PTR, 0x228);
});
