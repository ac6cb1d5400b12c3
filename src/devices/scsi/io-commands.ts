// The commands that touch the image (SBC-3): READ and WRITE (6, 10, 16), SYNCHRONIZE CACHE (10, 16), UNMAP and
// WRITE SAME (10, 16). Each checks its CDB, then write protection, then the range, then that the guest's buffers
// hold what the CDB says will move; only then does it touch the file. A READ or WRITE moves its whole transfer or
// ends in CHECK CONDITION: the data-in buffers may hold part of a failed read, but the residual says none of it
// is data.
import { gather, sliceSegments } from '../../virtio-mmio/segments';
import { good, need, type Command, type Outcome, type Result } from './command';
import {
  ASC, BLOCK, KEY, MAX_SECTORS, MAX_UNMAP_BLOCKS, MAX_UNMAP_DESCRIPTORS, MAX_WRITE_SAME_BLOCKS, OP, UNMAP_LIST_MAX,
} from './constants';
import type { ScsiDisk } from './disk';
import { invalidField, invalidOpcode, invalidParameter, lbaOutOfRange, ScsiCheck, writeProtected } from './sense';

export interface IoStats {
  reads: number;
  writes: number;
  readBytes: number;
  writtenBytes: number;
  syncs: number;
  unmaps: number;
  unmappedBlocks: number;
  writeSames: number;
}

/** A CDB's block range: its LBA (a bigint, as READ(16) may name any), length, and where the length field is. */
interface Range {
  lba: bigint;
  blocks: number;
  lengthByte: number;
}

/** The range of a READ, WRITE, SYNCHRONIZE CACHE or WRITE SAME in its 6-, 10- or 16-byte form. */
function cdbRange(cdb: Buffer): Range {
  switch (cdb[0]) {
    case OP.READ_6:
    case OP.WRITE_6:
      // A length of 0 is 256 blocks in the 6-byte form.
      return { lba: BigInt(cdb.readUIntBE(1, 3) & 0x1f_ffff), blocks: cdb[4] || 256, lengthByte: 4 };
    case OP.READ_10: case OP.WRITE_10: case OP.SYNCHRONIZE_CACHE_10: case OP.WRITE_SAME_10:
      return { lba: BigInt(cdb.readUInt32BE(2)), blocks: cdb.readUInt16BE(7), lengthByte: 7 };
    default:
      return { lba: cdb.readBigUInt64BE(2), blocks: cdb.readUInt32BE(10), lengthByte: 10 };
  }
}

/** The first block of a range inside the disk; LBA OUT OF RANGE otherwise. */
function inDisk(disk: ScsiDisk, r: Range): number {
  if (r.lba + BigInt(r.blocks) > BigInt(disk.blocks)) throw lbaOutOfRange();
  return Number(r.lba);
}

/** RDPROTECT / WRPROTECT must be 0: the disks carry no protection information. */
function noProtection(cdb: Buffer): void {
  if (cdb[0] !== OP.READ_6 && cdb[0] !== OP.WRITE_6 && cdb[1]! >> 5 !== 0) throw invalidField(1, 5);
}

export async function readBlocks(cmd: Command, stats: IoStats): Promise<Outcome> {
  noProtection(cmd.cdb);
  const r = cdbRange(cmd.cdb);
  if (r.blocks > MAX_SECTORS) throw invalidField(r.lengthByte);
  const lba = inDisk(cmd.disk, r);
  const bytes = r.blocks * BLOCK;
  need(cmd.inLen, bytes);
  if (bytes > 0) await cmd.disk.read(sliceSegments(cmd.dataIn, 0, bytes), lba);
  stats.reads++;
  stats.readBytes += bytes;
  return good(bytes);
}

export async function writeBlocks(cmd: Command, stats: IoStats): Promise<Outcome> {
  noProtection(cmd.cdb);
  const r = cdbRange(cmd.cdb);
  if (r.blocks > MAX_SECTORS) throw invalidField(r.lengthByte);
  if (cmd.disk.readonly) throw writeProtected();
  const lba = inDisk(cmd.disk, r);
  const bytes = r.blocks * BLOCK;
  need(cmd.outLen, bytes);
  const fua = cmd.cdb[0] !== OP.WRITE_6 && (cmd.cdb[1]! & 0x08) !== 0;
  if (bytes > 0) await cmd.disk.write(sliceSegments(cmd.dataOut, 0, bytes), lba, fua);
  stats.writes++;
  stats.writtenBytes += bytes;
  return good(bytes);
}

/** The whole file is synced whatever the range (0 blocks: to the end); the range is still checked. */
export function synchronizeCache(cmd: Command, stats: IoStats): Result {
  inDisk(cmd.disk, cdbRange(cmd.cdb));
  if (cmd.disk.readonly) return good();
  stats.syncs++;
  return cmd.disk.sync().then(() => good());
}

/** UNMAP's parameter list: validated whole (count, ranges, total) before the first hole is punched. */
export function unmap(cmd: Command, stats: IoStats): Outcome {
  const { cdb, disk } = cmd;
  if (cdb[1]! & 0x01) throw invalidField(1, 0); // ANCHOR
  if (disk.readonly) throw writeProtected();
  if (!disk.canUnmap) throw invalidOpcode();
  const listLength = cdb.readUInt16BE(7);
  if (listLength === 0) return good();
  if (listLength < 8) throw new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.PARAMETER_LIST_LENGTH_ERROR);
  need(cmd.outLen, listLength);
  const taken = Math.min(listLength, UNMAP_LIST_MAX);
  const list = gather(sliceSegments(cmd.dataOut, 0, taken), taken)!;
  // Descriptors past the list's length, and a last one cut short, are not there.
  const count = Math.floor(Math.min(list.readUInt16BE(2), listLength - 8) / 16);
  if (count > MAX_UNMAP_DESCRIPTORS) throw invalidParameter(2);
  const ranges: [lba: number, blocks: number][] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = 8 + 16 * i;
    const r = { lba: list.readBigUInt64BE(at), blocks: list.readUInt32BE(at + 8), lengthByte: at + 8 };
    ranges.push([inDisk(disk, r), r.blocks]);
    total += r.blocks;
    if (total > MAX_UNMAP_BLOCKS) throw invalidParameter(at + 8);
  }
  for (const [lba, blocks] of ranges) if (blocks > 0) disk.punch(lba, blocks);
  stats.unmaps++;
  stats.unmappedBlocks += total;
  return good(listLength);
}

/**
 * WRITE SAME: one block of data (none with NDOB: zeros) written to every block of the range. Zeros become a
 * fallocate (a hole when UNMAP is set); any other pattern is written, so the range reads back as the guest wrote it
 * whatever UNMAP says.
 */
export async function writeSame(cmd: Command, stats: IoStats): Promise<Outcome> {
  const { cdb, disk } = cmd;
  noProtection(cdb);
  if (cdb[1]! & 0x10) throw invalidField(1, 4); // ANCHOR
  const ndob = cdb[0] === OP.WRITE_SAME_16 && (cdb[1]! & 0x01) !== 0;
  if (cdb[1]! & 0x06) throw invalidField(1, 1); // PBDATA, LBDATA
  if (cdb[0] === OP.WRITE_SAME_10 && cdb[1]! & 0x01) throw invalidField(1, 0);
  const r = cdbRange(cdb);
  // WSNZ: a length of 0 (to the end of the disk) is refused, as the block limits page says.
  if (r.blocks === 0 || r.blocks > MAX_WRITE_SAME_BLOCKS) throw invalidField(r.lengthByte);
  if (disk.readonly) throw writeProtected();
  const lba = inDisk(disk, r);
  const unmapBit = (cdb[1]! & 0x08) !== 0;
  let block: Buffer = Buffer.alloc(BLOCK);
  if (!ndob) {
    need(cmd.outLen, BLOCK);
    block = gather(sliceSegments(cmd.dataOut, 0, BLOCK), BLOCK)!;
  }
  if (block.every((b) => b === 0)) await disk.zero(lba, r.blocks, unmapBit);
  else await disk.writePattern(block, lba, r.blocks);
  stats.writeSames++;
  stats.writtenBytes += r.blocks * BLOCK;
  return good(ndob ? 0 : BLOCK);
}
