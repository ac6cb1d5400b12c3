import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  coreIdBits, L1_ECX_AVX, L1_ECX_HYPERVISOR, L1_ECX_OSXSAVE, L1_ECX_POPCNT, L1_ECX_XSAVE, L1_EDX_HTT, L7_EBX_AVX2,
  L7_EBX_SMAP, L7_EBX_SMEP, normalizeCpuid, signatureWords, vendorString,
} from '../../../src/vmm/boot/cpuid';
import type { CpuidEntry } from '../../../src/base/kvm-types';

function entry(fn: number, index: number, regs: Partial<CpuidEntry> = {}, flags = 0): CpuidEntry {
  return { function: fn, index, flags, eax: 0, ebx: 0, ecx: 0, edx: 0, ...regs };
}

const [amdB, amdD, amdC] = signatureWords('AuthenticAMD');
const L1_ECX = (L1_ECX_XSAVE | L1_ECX_POPCNT | L1_ECX_AVX | 0x1) >>> 0;
const L7_EBX = (L7_EBX_SMEP | L7_EBX_SMAP | L7_EBX_AVX2 | 0x1) >>> 0;

/** Shaped like KVM_GET_SUPPORTED_CPUID on an AMD host; host APIC id 0x0b in leaf 1. */
function supported(): CpuidEntry[] {
  return [
    entry(0, 0, { eax: 0x10, ebx: amdB, edx: amdD, ecx: amdC }),
    entry(1, 0, { eax: 0x00a00f11, ebx: 0x0b100800, ecx: L1_ECX, edx: 0x178bfbff }),
    entry(4, 0, { eax: 0x121 | (7 << 14) | (15 << 26) }, 1),
    entry(4, 1, { eax: 0x143 | (7 << 14) | (15 << 26) }, 1),
    entry(4, 2, { eax: 0x163 | (31 << 14) | (15 << 26) }, 1),
    entry(4, 3, {}, 1),
    entry(7, 0, { ebx: L7_EBX }, 1),
    entry(0xb, 0, { eax: 1, ebx: 2, ecx: 0x100, edx: 0x0b }, 1),
    entry(0xd, 0, { eax: 7 }, 1),
    entry(0xd, 1, { eax: 1 }, 1),
    entry(0x40000000, 0, { eax: 0x40000001 }),
    entry(0x80000008, 0, { eax: 0x3030, ecx: 0x700f }),
    entry(0x8000001e, 0, { eax: 0x0b, ebx: 0x0105, ecx: 0x300 }),
  ];
}

function find(entries: CpuidEntry[], fn: number, index = 0): CpuidEntry {
  const e = entries.find((x) => x.function === fn && x.index === index);
  assert.ok(e, `leaf 0x${fn.toString(16)}.${index}`);
  return e;
}

test('leaf 1: this vCPU\'s APIC id, logical count, CLFLUSH size, HTT and the hypervisor bit', () => {
  const out = normalizeCpuid(supported(), { vcpuId: 2, vcpuCount: 3 });
  const l1 = find(out, 1);
  assert.equal(l1.ebx >>> 24, 2, 'initial APIC id');
  assert.equal((l1.ebx >>> 16) & 0xff, 4, 'addressable ids: next power of two');
  assert.equal((l1.ebx >>> 8) & 0xff, 8, 'CLFLUSH 64 bytes');
  assert.ok(l1.ecx & L1_ECX_HYPERVISOR);
  assert.ok(l1.ecx >= 0, 'stays an unsigned 32-bit value');
  assert.ok(l1.edx & L1_EDX_HTT);
  assert.equal(l1.eax, 0x00a00f11, 'signature untouched');
  const single = find(normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 1 }), 1);
  assert.equal(single.edx & L1_EDX_HTT, 0);
  assert.equal(single.ebx >>> 24, 0);
});

test('topology leaf 0xB: one thread per core, vcpuCount cores, x2APIC id in EDX', () => {
  const out = normalizeCpuid(supported(), { vcpuId: 5, vcpuCount: 6 });
  const leaves = out.filter((e) => e.function === 0xb);
  assert.deepEqual(leaves.map((e) => [e.index, e.eax, e.ebx, e.ecx, e.edx, e.flags]), [
    [0, 0, 1, 0x100, 5, 1],
    [1, 3, 6, 0x201, 5, 1],
    [2, 0, 0, 2, 5, 1],
  ]);
  assert.equal(out.some((e) => e.function === 0x1f), false, 'not added when the host has none');
});

test('leaf 4: caches per core for L1/L2, shared by all cores for L3, cores per package', () => {
  const out = normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 4 });
  for (const index of [0, 1]) {
    const e = find(out, 4, index);
    assert.equal((e.eax >>> 14) & 0xfff, 0, `L${index + 1} sharing`);
    assert.equal(e.eax >>> 26, 3);
  }
  const l3 = find(out, 4, 2);
  assert.equal((l3.eax >>> 14) & 0xfff, 3);
  assert.equal(l3.eax & 0x3fff, 0x163, 'type and level kept');
  assert.equal(find(out, 4, 3).eax, 0, 'the terminating subleaf stays empty');
});

test('vendor override and KVM signature', () => {
  const plain = normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 1 });
  assert.equal(vendorString(find(plain, 0)), 'AuthenticAMD');
  const intel = normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 1, intelVendor: true });
  assert.equal(vendorString(find(intel, 0)), 'GenuineIntel');
  assert.equal(find(intel, 0).eax, 0x10, 'max leaf kept');
  const kvm = find(plain, 0x40000000);
  const sig = Buffer.alloc(12);
  sig.writeUInt32LE(kvm.ebx, 0);
  sig.writeUInt32LE(kvm.ecx, 4);
  sig.writeUInt32LE(kvm.edx, 8);
  assert.equal(sig.toString('latin1'), 'KVMKVMKVM\0\0\0');
  assert.equal(kvm.eax, 0x40000001);
});

test('masking for the emulator hides XSAVE (and leaf 0xD), SMAP, SMEP, POPCNT, and AVX with XSAVE', () => {
  const input = supported();
  const out = normalizeCpuid(input, { vcpuId: 0, vcpuCount: 1, maskForEmulator: true });
  const l1 = find(out, 1);
  assert.equal(l1.ecx & (L1_ECX_XSAVE | L1_ECX_OSXSAVE | L1_ECX_POPCNT | L1_ECX_AVX), 0);
  assert.equal(l1.ecx & 1, 1, 'other features kept');
  const l7 = find(out, 7);
  assert.equal(l7.ebx & (L7_EBX_SMEP | L7_EBX_SMAP | L7_EBX_AVX2), 0);
  assert.equal(l7.ebx & 1, 1);
  assert.equal(out.some((e) => e.function === 0xd), false);
  assert.equal(find(input, 1).ecx, L1_ECX, 'input not modified');
  assert.equal(input.length, supported().length);
});

test('hideFeatures picks single features; nothing is hidden unless asked', () => {
  const none = normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 1 });
  assert.ok(find(none, 1).ecx & L1_ECX_XSAVE);
  assert.ok(find(none, 7).ebx & L7_EBX_SMAP);
  assert.equal(none.filter((e) => e.function === 0xd).length, 2);
  const popcnt = normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 1, hideFeatures: ['popcnt', 'smep'] });
  assert.equal(find(popcnt, 1).ecx & L1_ECX_POPCNT, 0);
  assert.ok(find(popcnt, 1).ecx & L1_ECX_XSAVE);
  assert.equal(find(popcnt, 7).ebx & L7_EBX_SMEP, 0);
  assert.ok(find(popcnt, 7).ebx & L7_EBX_SMAP);
});

test('AMD topology leaves follow the vCPU count unless the vendor is overridden', () => {
  const amd = normalizeCpuid(supported(), { vcpuId: 3, vcpuCount: 4 });
  assert.equal(find(amd, 0x80000008).ecx, 0x2003, 'ApicIdSize 2, 4 cores');
  assert.equal(find(amd, 0x80000008).eax, 0x3030);
  assert.deepEqual([find(amd, 0x8000001e).eax, find(amd, 0x8000001e).ebx], [3, 3]);
  const intel = normalizeCpuid(supported(), { vcpuId: 3, vcpuCount: 4, intelVendor: true });
  assert.equal(find(intel, 0x80000008).ecx, 0x700f);
});

test('bad vCPU ids and counts are refused', () => {
  assert.throws(() => normalizeCpuid(supported(), { vcpuId: 2, vcpuCount: 2 }), RangeError);
  assert.throws(() => normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 0 }), RangeError);
  assert.throws(() => normalizeCpuid(supported(), { vcpuId: 0, vcpuCount: 255 }), RangeError);
  assert.deepEqual([1, 2, 3, 4, 5, 128, 254].map(coreIdBits), [0, 1, 2, 2, 3, 7, 8]);
});

test('masking for the emulator hides x2APIC, and every register stays an unsigned 32-bit value', () => {
  const X2APIC = 1 << 21;
  const sup = supported();
  for (const e of sup) if (e.function === 1) e.ecx = (e.ecx | X2APIC | (1 << 31)) >>> 0;
  const out = normalizeCpuid(sup, { vcpuId: 1, vcpuCount: 2, maskForEmulator: true });
  assert.equal(find(out, 1).ecx & X2APIC, 0);
  for (const e of out) {
    for (const r of [e.eax, e.ebx, e.ecx, e.edx]) assert.ok(r >= 0 && r <= 0xffffffff && Number.isInteger(r));
  }
});

test('masking for the emulator keeps only the KVM paravirt features that make no hypercall', () => {
  const sup = [...supported(), { function: 0x40000001, index: 0, flags: 0, eax: 0x1007efb, ebx: 0, ecx: 0, edx: 0 }];
  const masked = normalizeCpuid(sup, { vcpuId: 0, vcpuCount: 2, maskForEmulator: true });
  assert.equal(find(masked, 0x40000001).eax, 0x100007b);
  const kept = normalizeCpuid(sup, { vcpuId: 0, vcpuCount: 2 });
  assert.equal(find(kept, 0x40000001).eax, 0x1007efb);
});
