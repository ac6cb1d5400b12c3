// One SCSI command as the device runs it: the CDB, the logical unit, and the guest's data buffers in each
// direction; and how it ended. The virtio layer (device.ts) turns the outcome into the response it writes.
import { scatter } from '../../virtio-mmio/segments';
import { RESP, STATUS } from './constants';
import type { ScsiDisk } from './disk';
import { Overrun, type ScsiCheck } from './sense';

export interface Command {
  /** The CDB as the request carried it (cdb_size bytes, copied out of guest memory). */
  cdb: Buffer;
  tag: bigint;
  disk: ScsiDisk;
  target: number;
  /** False when the LUN names a logical unit the target does not have. */
  present: boolean;
  /** The data-in buffers (after the response and sense) and their size. */
  dataIn: Uint8Array[];
  inLen: number;
  /** The data-out buffers (after the request header) and their size. */
  dataOut: Uint8Array[];
  outLen: number;
}

export interface Outcome {
  /** The virtio response byte (RESP). */
  response: number;
  /** The SCSI status, meaningful when the response is OK. */
  status: number;
  /** Sense data for CHECK CONDITION. */
  sense?: ScsiCheck;
  /** Bytes written into data-in or taken from data-out. */
  moved: number;
}

export type Result = Outcome | Promise<Outcome>;

export const good = (moved = 0): Outcome => ({ response: RESP.OK, status: STATUS.GOOD, moved });

export const checkCondition = (sense: ScsiCheck): Outcome =>
  ({ response: RESP.OK, status: STATUS.CHECK_CONDITION, sense, moved: 0 });

export const transportResponse = (response: number): Outcome => ({ response, status: STATUS.GOOD, moved: 0 });

/** Throws Overrun unless the buffers in the command's direction hold `bytes`. */
export function need(available: number, bytes: number): void {
  if (bytes > available) throw new Overrun(bytes, available);
}

/**
 * Answers with `data`, as much of it as the allocation length allows. The whole allocation length must fit the
 * data-in buffers (virtio's OVERRUN otherwise, as for any length a CDB gives), though the data may be shorter.
 */
export function reply(cmd: Command, data: Uint8Array, allocation: number): Outcome {
  need(cmd.inLen, allocation);
  const n = Math.min(allocation, data.length);
  return good(n === 0 ? 0 : scatter(cmd.dataIn, 0, data.subarray(0, n)));
}
