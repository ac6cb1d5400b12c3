// MODE SENSE(6) and (10) (SPC-4 6.11, 6.12): a header whose device-specific byte carries WP for a read-only disk,
// a block descriptor unless DBD, then the caching page (WCE set: writes reach the host's page cache, and
// SYNCHRONIZE CACHE is what makes them durable). Nothing is changeable (there is no MODE SELECT), and there are no
// saved values.
import { ASC, BLOCK, KEY, OP } from './constants';
import type { ScsiDisk } from './disk';
import { invalidField, ScsiCheck } from './sense';

const PAGE_CACHING = 0x08;
const PAGE_ALL = 0x3f;
const PC_CHANGEABLE = 1;
const PC_SAVED = 3;

/** The mode parameter data for a MODE SENSE(6) or (10) CDB; throws a ScsiCheck for a field it cannot serve. */
export function modeSense(cdb: Uint8Array, disk: ScsiDisk): Buffer {
  const ten = cdb[0] === OP.MODE_SENSE_10;
  const dbd = (cdb[1]! & 0x08) !== 0;
  const llbaa = ten && (cdb[1]! & 0x10) !== 0;
  const pc = cdb[2]! >> 6;
  const page = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  if (pc === PC_SAVED) throw new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.SAVING_PARAMETERS_NOT_SUPPORTED);
  if (page !== PAGE_CACHING && page !== PAGE_ALL) throw invalidField(2, 0);
  // Subpage 0xff with page 0x3f asks for every subpage too; this device has none.
  if (subpage !== 0 && !(page === PAGE_ALL && subpage === 0xff)) throw invalidField(3);
  const pages = cachingPage(pc === PC_CHANGEABLE);
  const blockDescriptor = dbd ? Buffer.alloc(0) : descriptor(disk.blocks, llbaa);
  const wp = disk.readonly ? 0x80 : 0;
  const head = Buffer.alloc(ten ? 8 : 4);
  if (ten) {
    head.writeUInt16BE(head.length + blockDescriptor.length + pages.length - 2, 0);
    head[3] = wp;
    head[4] = llbaa && !dbd ? 0x01 : 0; // LONGLBA
    head.writeUInt16BE(blockDescriptor.length, 6);
  } else {
    head[0] = head.length + blockDescriptor.length + pages.length - 1;
    head[2] = wp;
    head[3] = blockDescriptor.length;
  }
  return Buffer.concat([head, blockDescriptor, pages]);
}

/** The block descriptor: the number of blocks (saturated in the short form) and the block length. */
function descriptor(blocks: number, long: boolean): Buffer {
  if (long) {
    const d = Buffer.alloc(16);
    d.writeBigUInt64BE(BigInt(blocks), 0);
    d.writeUInt32BE(BLOCK, 12);
    return d;
  }
  const d = Buffer.alloc(8);
  d.writeUInt32BE(Math.min(blocks, 0xffff_ffff), 0);
  d.writeUInt32BE(BLOCK, 4); // density code 0, then the 3-byte block length
  return d;
}

/** The caching page; as changeable values, all zeros (no bit can be changed). */
function cachingPage(changeable: boolean): Buffer {
  const p = Buffer.alloc(20);
  p[0] = PAGE_CACHING;
  p[1] = p.length - 2;
  if (!changeable) p[2] = 0x04; // WCE
  return p;
}
