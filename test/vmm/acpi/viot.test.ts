// The VIOT table: parsed back by the layout of ACPICA's actbl3.h, reached from the XSDT, and read by iasl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildAcpiTables, writeAcpiTables } from '../../../src/vmm/acpi';
import { buildViot, VIOT_NODE } from '../../../src/vmm/acpi/viot';
import { virtioMmioSlot } from '../../../src/vmm/boot/layout';
import { GuestMemory } from '../../../src/base/guest-memory';
import { platform } from './fixtures';

const sum = (b: Uint8Array): number => b.reduce((n, x) => (n + x) & 0xff, 0);

/** An IOMMU at slot 3, disks at slots 0 and 2 behind it. */
const IOMMU = { base: virtioMmioSlot(3).base, endpoints: [0, 2].map((id) => ({ id, base: virtioMmioSlot(id).base })) };

interface Node { type: number; offset: number; length: number; endpoint?: number; base: bigint; output?: number }

/** Reads a VIOT back as an OS would: the header's node count and offset, then node after node by its length. */
function parse(t: Uint8Array): Node[] {
  const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
  assert.equal(Buffer.from(t.subarray(0, 4)).toString('latin1'), 'VIOT');
  assert.equal(v.getUint32(4, true), t.length);
  assert.equal(sum(t), 0, 'checksum');
  const count = v.getUint16(36, true);
  let at = v.getUint16(38, true);
  assert.ok(t.subarray(40, 48).every((b) => b === 0), 'reserved');
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const type = v.getUint8(at);
    const length = v.getUint16(at + 2, true);
    if (type === VIOT_NODE.VIRTIO_IOMMU_MMIO) {
      assert.equal(length, 16);
      nodes.push({ type, offset: at, length, base: v.getBigUint64(at + 8, true) });
    } else {
      assert.equal(type, VIOT_NODE.MMIO);
      assert.equal(length, 24);
      nodes.push({ type, offset: at, length, endpoint: v.getUint32(at + 4, true), base: v.getBigUint64(at + 8, true),
        output: v.getUint16(at + 16, true) });
    }
    at += length;
  }
  assert.equal(at, t.length, 'the nodes fill the table');
  return nodes;
}

test('the VIOT has the virtio-mmio IOMMU node and one MMIO endpoint node per device behind it', () => {
  const nodes = parse(buildViot(IOMMU));
  assert.equal(nodes.length, 3);
  const [iommu, ...eps] = nodes;
  assert.deepEqual(iommu, { type: 4, offset: 48, length: 16, base: BigInt(virtioMmioSlot(3).base) });
  assert.deepEqual(eps.map((n) => [n.endpoint, n.base, n.output]),
    [[0, BigInt(virtioMmioSlot(0).base), 48], [2, BigInt(virtioMmioSlot(2).base), 48]]);
});

test('the XSDT lists the VIOT only when the machine has an IOMMU', () => {
  const xsdtEntries = (p: ReturnType<typeof platform>): string[] => {
    const mem = GuestMemory.forTest([{ gpa: 0, size: 2 << 20 }]);
    writeAcpiTables(mem, p);
    const tables = buildAcpiTables(p).tables;
    const xsdt = tables[1]!.bytes;
    const v = new DataView(xsdt.buffer, xsdt.byteOffset);
    const out: string[] = [];
    for (let at = 36; at < xsdt.length; at += 8) {
      const addr = Number(v.getBigUint64(at, true));
      const t = mem.read(addr, mem.view(addr, 8).getUint32(4, true));
      assert.equal(sum(t), 0);
      out.push(Buffer.from(t.subarray(0, 4)).toString('latin1'));
    }
    return out;
  };
  assert.deepEqual(xsdtEntries(platform(1, 4)), ['FACP', 'APIC']);
  assert.deepEqual(xsdtEntries({ ...platform(1, 4), iommu: IOMMU }), ['FACP', 'APIC', 'VIOT']);
});

test('iasl reads the VIOT back with the same nodes', (t) => {
  if (spawnSync('iasl', ['-v']).status !== 0) return t.skip('iasl is not installed (apt-get install acpica-tools)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-viot-'));
  try {
    fs.writeFileSync(path.join(dir, 'viot.dat'), buildViot(IOMMU));
    const r = spawnSync('iasl', ['-d', 'viot.dat'], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, `iasl failed: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /Invalid|Error|Warning/i);
    const dsl = fs.readFileSync(path.join(dir, 'viot.dsl'), 'utf8');
    // An iasl older than its VIOT support only dumps the table as raw bytes.
    if (dsl.includes('Unknown ACPI table signature')) {
      process.stderr.write('SKIPPED: this iasl does not know the VIOT: its layout is checked by the parser above only\n');
      return t.skip('this iasl does not know the VIOT');
    }
    const field = (name: string): string[] => [...dsl.matchAll(new RegExp(`${name}\\s*:\\s*(\\S+)`, 'g'))].map((m) => m[1]!);
    assert.deepEqual(field('Node count').map(Number), [3]);
    assert.deepEqual(field('Base Address').map((h) => parseInt(h, 16)), [3, 0, 2].map((i) => virtioMmioSlot(i).base));
    assert.deepEqual(field('Endpoint ID').map((h) => parseInt(h, 16)), [0, 2]);
    assert.deepEqual(field('Output node').map((h) => parseInt(h, 16)), [48, 48]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
