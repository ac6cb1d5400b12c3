// The DSDT's AML read back by ACPICA's disassembler (Debian: acpica-tools), compared with the ASL it stands for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildAcpiTables } from '../../../src/vmm/acpi';
import { buildDsdt } from '../../../src/vmm/acpi/tables';
import { platform } from './fixtures';

const EXPECTED = String.raw`
DefinitionBlock ("", "DSDT", 2, "TSVMM ", "MICROVM ", 0x00000001)
{
    Name (_S5, Package (0x04) { 0x05, Zero, Zero, Zero })
    Scope (\_SB)
    {
        Device (COM1)
        {
            Name (_HID, EisaId ("PNP0501"))
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08, )
                IRQNoFlags () {4}
            })
        }
        Device (PS2K)
        {
            Name (_HID, EisaId ("PNP0303"))
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x0060, 0x0060, 0x01, 0x01, )
                IO (Decode16, 0x0064, 0x0064, 0x01, 0x01, )
                IRQNoFlags () {1}
            })
        }
        Device (VR00)
        {
            Name (_HID, "LNRO0005")
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xD0000000, 0x00001000, )
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000005, }
            })
        }
        Device (VR01)
        {
            Name (_HID, "LNRO0005")
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xD0001000, 0x00001000, )
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000006, }
            })
        }
        Device (GED0)
        {
            Name (_HID, "ACPI0013")
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000003, }
            })
            Method (_EVT, 1, NotSerialized)
            {
                Notify (\_SB.PWRB, 0x80)
            }
        }
        Device (PWRB)
        {
            Name (_HID, EisaId ("PNP0C0C"))
            Name (_UID, Zero)
        }
    }
}`;

/** ASL without comments and with whitespace only where it separates words: disassembler versions lay it out apart. */
function normalize(asl: string): string {
  return asl
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\s+/g, ' ')
    .replace(/ ?([(){},]) ?/g, '$1')
    .trim();
}

function iaslVersion(): string | undefined {
  const r = spawnSync('iasl', ['-v'], { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.match(/version \S+/)?.[0] ?? 'unknown version') : undefined;
}

test('iasl -d turns the DSDT back into the expected ASL', (t) => {
  if (iaslVersion() === undefined) {
    const why = 'iasl is not installed (apt-get install acpica-tools): the DSDT is NOT checked against its ASL';
    process.stderr.write(`SKIPPED: ${why}\n`);
    return t.skip(why);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-dsdt-'));
  try {
    const aml = path.join(dir, 'dsdt.aml');
    fs.writeFileSync(aml, buildDsdt(platform(2, 2)));
    const r = spawnSync('iasl', ['-d', aml], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, `iasl failed: ${r.stdout}${r.stderr}`);
    const asl = fs.readFileSync(path.join(dir, 'dsdt.dsl'), 'utf8');
    assert.equal(normalize(asl), normalize(EXPECTED));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('iasl reads the FADT, MADT and XSDT without complaint', (t) => {
  if (iaslVersion() === undefined) return t.skip('iasl is not installed (apt-get install acpica-tools)');
  // Data tables: iasl decodes every field by the spec's layout and says so when one is out of place.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-acpi-'));
  try {
    const tables = buildAcpiTables(platform(4, 1)).tables.slice(1, 4);
    for (const [i, { bytes }] of tables.entries()) fs.writeFileSync(path.join(dir, `t${i}.dat`), bytes);
    const r = spawnSync('iasl', ['-d', ...tables.map((_, i) => `t${i}.dat`)], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, `iasl failed: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /Invalid|Error|Warning/i);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
