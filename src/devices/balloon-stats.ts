// The guest's memory statistics (virtio 1.2 section 5.5.6.3): packed entries of a le16 tag and a le64 value,
// written by the driver into the buffer it posts on the statistics queue. Values are u64 from the guest, so bigint.
import { gather, totalBytes } from '../virtio-mmio/segments';

/** The last report, as the guest wrote it; a tag the guest did not send is absent. */
export interface BalloonGuestStats {
  /** When the report reached the VMM, ms since the epoch. */
  at: number;
  /** Bytes swapped in and out. */
  swapIn?: bigint;
  swapOut?: bigint;
  /** Page faults that needed I/O, and those that did not. */
  majorFaults?: bigint;
  minorFaults?: bigint;
  /** Bytes the guest is not using at all. */
  freeMemory?: bigint;
  /** Bytes of RAM the guest kernel manages. */
  totalMemory?: bigint;
  /** The guest's estimate of bytes it could use for new work without swapping. */
  availableMemory?: bigint;
  /** Bytes of page cache the guest could drop. */
  diskCaches?: bigint;
  /** Successful and failed hugetlb page allocations. */
  hugetlbAllocations?: bigint;
  hugetlbFailures?: bigint;
  /** Tags this VMM has no name for (newer drivers send more), by tag number. */
  other: Record<number, bigint>;
}

type Named = Exclude<keyof BalloonGuestStats, 'at' | 'other'>;

const TAGS: readonly Named[] = ['swapIn', 'swapOut', 'majorFaults', 'minorFaults', 'freeMemory', 'totalMemory',
  'availableMemory', 'diskCaches', 'hugetlbAllocations', 'hugetlbFailures'];
const ENTRY = 10;
/** More entries than any driver sends; a bigger buffer is read only this far. */
const MAX_ENTRIES = 64;

/** Reads the entries from the buffers (an entry may straddle two); later duplicates of a tag win. */
export function parseBalloonStats(bufs: readonly Uint8Array[], at: number): { stats: BalloonGuestStats; trailingBytes: number } {
  const total = totalBytes(bufs);
  const bytes = gather(bufs, Math.min(total, ENTRY * MAX_ENTRIES))!;
  const stats: BalloonGuestStats = { at, other: {} };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const whole = Math.floor(bytes.length / ENTRY);
  for (let i = 0; i < whole; i++) {
    const tag = view.getUint16(i * ENTRY, true);
    const value = view.getBigUint64(i * ENTRY + 2, true);
    const name = TAGS[tag];
    if (name !== undefined) stats[name] = value;
    else stats.other[tag] = value;
  }
  return { stats, trailingBytes: total > bytes.length ? 0 : bytes.length % ENTRY };
}
