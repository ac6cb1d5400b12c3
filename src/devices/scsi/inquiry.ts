// INQUIRY's answers (SPC-4 6.6 and 7.8; SBC-3 6.6): the standard data and the vital product data pages a Linux
// sd driver reads to size a disk and set up discard. Each is built whole; the command copies what the allocation
// length and the guest's buffer allow.
import { BLOCK, MAX_SECTORS, MAX_UNMAP_BLOCKS, MAX_UNMAP_DESCRIPTORS, MAX_WRITE_SAME_BLOCKS } from './constants';
import type { ScsiDisk } from './disk';

export const VENDOR = 'TSVMM';
export const PRODUCT = 'VIRTUAL DISK';
const REVISION = '0001';
/** Direct-access block device; a missing logical unit is peripheral qualifier 3 with type 0x1f. */
const TYPE_DISK = 0x00;
const NO_UNIT = 0x7f;

/** The pages the device answers, ascending as page 0x00 must list them. */
export const VPD_PAGES = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2] as const;

/** Space-padded ASCII of exactly `n` bytes. */
function ascii(text: string, n: number): Buffer {
  const b = Buffer.alloc(n, 0x20);
  b.write(text.slice(0, n), 'ascii');
  return b;
}

/** The standard INQUIRY data (36 bytes); `present` false answers for a logical unit that does not exist. */
export function standardInquiry(present: boolean): Buffer {
  const b = Buffer.alloc(36);
  b[0] = present ? TYPE_DISK : NO_UNIT;
  b[2] = 0x05; // SPC-3
  b[3] = 0x12; // HISUP, response data format 2
  b[4] = b.length - 5;
  b[7] = 0x02; // CMDQUE: commands may be queued
  ascii(VENDOR, 8).copy(b, 8);
  ascii(PRODUCT, 16).copy(b, 16);
  ascii(REVISION, 4).copy(b, 32);
  return b;
}

/** A VPD page for `disk`, or undefined for a page the device does not have. */
export function vpdPage(page: number, disk: ScsiDisk, target: number): Buffer | undefined {
  switch (page) {
    case 0x00: return vpd(page, Buffer.from(VPD_PAGES));
    case 0x80: return vpd(page, Buffer.from(disk.serial, 'ascii'));
    case 0x83: return vpd(page, deviceIdentification(disk, target));
    case 0xb0: return vpd(page, blockLimits(disk));
    case 0xb1: return vpd(page, blockCharacteristics());
    case 0xb2: return vpd(page, provisioning(disk));
    default: return undefined;
  }
}

function vpd(page: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = TYPE_DISK;
  head[1] = page;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([head, body]);
}

/**
 * Page 0x83: a T10 vendor ID designator (the vendor, then the serial, or the target where there is no serial) and
 * an NAA locally assigned designator hashed from the same text, which Linux takes for the disk's WWN.
 */
function deviceIdentification(disk: ScsiDisk, target: number): Buffer {
  const id = disk.serial !== '' ? disk.serial : `${PRODUCT} ${target}`;
  const t10 = Buffer.concat([ascii(VENDOR, 8), Buffer.from(id, 'ascii')]);
  const naa = Buffer.alloc(8);
  naa.writeBigUInt64BE((0x3n << 60n) | (fnv1a64(`${VENDOR}:${id}`) & ((1n << 60n) - 1n)));
  return Buffer.concat([designator(2, 1, t10), designator(1, 3, naa)]);
}

/** A designation descriptor for the logical unit (association 0): its code set and designator type. */
function designator(codeSet: number, type: number, value: Buffer): Buffer {
  const head = Buffer.from([codeSet, type, 0, value.length]);
  return Buffer.concat([head, value]);
}

function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
  return h;
}

/** Page 0xb0, the limits the commands enforce. */
function blockLimits(disk: ScsiDisk): Buffer {
  const b = Buffer.alloc(0x3c);
  b[0] = 0x01; // WSNZ: WRITE SAME of 0 blocks (to the end of the disk) is refused
  b.writeUInt16BE(4096 / BLOCK, 2); // optimal transfer length granularity
  b.writeUInt32BE(MAX_SECTORS, 4);
  if (disk.canUnmap) {
    b.writeUInt32BE(MAX_UNMAP_BLOCKS, 16);
    b.writeUInt32BE(MAX_UNMAP_DESCRIPTORS, 20);
    b.writeUInt32BE(4096 / BLOCK, 24); // optimal unmap granularity: the page a hole is punched in
  }
  b.writeBigUInt64BE(BigInt(MAX_WRITE_SAME_BLOCKS), 32);
  return b;
}

/** Page 0xb1: not rotating (an image file has no seek penalty the guest should schedule around). */
function blockCharacteristics(): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(1, 0);
  return b;
}

/** Page 0xb2: UNMAP and WRITE SAME with UNMAP where holes can be punched; unmapped blocks read as zeros. */
function provisioning(disk: ScsiDisk): Buffer {
  const b = Buffer.alloc(4);
  if (disk.canUnmap) {
    b[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ
    b[2] = 0x02; // thin provisioned
  }
  return b;
}
