// How a command ends other than GOOD. A command's checks throw: ScsiCheck for CHECK CONDITION with its sense data,
// Overrun when the CDB asks for more data than the guest's buffers hold (the virtio response OVERRUN, nothing
// moved). The sense data is fixed format (SPC-4 4.5.3), 18 bytes, cut to the driver's sense_size.
import { ASC, KEY, type AscPair } from './constants';

/** Where in the CDB (or the parameter list) the bad field is: the sense-key specific field pointer. */
export interface FieldPointer {
  /** True: the CDB; false: the parameter list. */
  inCdb: boolean;
  byte: number;
  /** The first bit of the field (0..7), when it is not a whole byte. */
  bit?: number;
}

export class ScsiCheck extends Error {
  constructor(readonly key: number, readonly code: AscPair, readonly field?: FieldPointer) {
    super(`sense key 0x${key.toString(16)}, asc 0x${code[0].toString(16)}/0x${code[1].toString(16)}`);
    this.name = 'ScsiCheck';
  }
}

export class Overrun extends Error {
  constructor(readonly needed: number, readonly available: number) {
    super(`the command needs ${needed} bytes of data; the buffers hold ${available}`);
    this.name = 'Overrun';
  }
}

export const FIXED_SENSE_BYTES = 18;

/** ILLEGAL REQUEST, INVALID FIELD IN CDB, pointing at `byte` (and `bit`) of the CDB. */
export function invalidField(byte: number, bit?: number): ScsiCheck {
  return new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { inCdb: true, byte, ...(bit === undefined ? {} : { bit }) });
}

/** ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST, pointing at `byte` of the list. */
export function invalidParameter(byte: number): ScsiCheck {
  return new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { inCdb: false, byte });
}

export const lbaOutOfRange = (): ScsiCheck => new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
export const writeProtected = (): ScsiCheck => new ScsiCheck(KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
export const invalidOpcode = (): ScsiCheck => new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPERATION_CODE);
export const lunNotSupported = (): ScsiCheck => new ScsiCheck(KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);

/**
 * What a failed file operation tells the guest: a full file system is SPACE ALLOCATION FAILED (a thin disk out of
 * room, which Linux reports as such); anything else is a MEDIUM ERROR for the read or the write it stopped.
 */
export function ioFailure(e: unknown, reading: boolean): ScsiCheck {
  if (e instanceof ScsiCheck) return e;
  if ((e as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC') {
    return new ScsiCheck(KEY.DATA_PROTECT, ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
  }
  return new ScsiCheck(KEY.MEDIUM_ERROR, reading ? ASC.UNRECOVERED_READ_ERROR : ASC.WRITE_ERROR);
}

/** Fixed-format sense data, current error. */
export function fixedSense(check: ScsiCheck): Buffer {
  const s = Buffer.alloc(FIXED_SENSE_BYTES);
  s[0] = 0x70;
  s[2] = check.key & 0x0f;
  s[7] = FIXED_SENSE_BYTES - 8; // additional sense length
  s[12] = check.code[0];
  s[13] = check.code[1];
  const f = check.field;
  if (f !== undefined) {
    // SKSV, C/D (the CDB or the parameter list), BPV and the bit, then the byte: where the bad field starts.
    s[15] = 0x80 | (f.inCdb ? 0x40 : 0) | (f.bit === undefined ? 0 : 0x08 | (f.bit & 7));
    s.writeUInt16BE(f.byte, 16);
  }
  return s;
}

/** REQUEST SENSE's answer when nothing is pending: NO SENSE. */
export const noSense = (): ScsiCheck => new ScsiCheck(KEY.NO_SENSE, ASC.NONE);
