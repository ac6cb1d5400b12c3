// The command set (SPC-4, SBC-3) and what every command ends in. A known opcode is checked and run; anything else
// is CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE. A logical unit the target does not have
// answers INQUIRY with peripheral qualifier 3, REQUEST SENSE and REPORT LUNS as usual, and everything else with
// LOGICAL UNIT NOT SUPPORTED.
import { checkCondition, good, reply, transportResponse, type Command, type Outcome, type Result } from './command';
import { ASC, BLOCK, KEY, OP, RESP, SA_READ_CAPACITY_16 } from './constants';
import { standardInquiry, vpdPage } from './inquiry';
import { readBlocks, synchronizeCache, unmap, writeBlocks, writeSame, type IoStats } from './io-commands';
import { modeSense } from './mode-sense';
import {
  fixedSense, invalidField, invalidOpcode, lunNotSupported, noSense, Overrun, ScsiCheck,
} from './sense';

export interface CommandStats extends IoStats {
  /** Commands with an opcode the device does not know. */
  unsupported: number;
  checkConditions: number;
  overruns: number;
}

/** Runs `cmd`; a promise when it waits for the file. Errors that are neither SCSI's nor the file's propagate. */
export function execute(cmd: Command, stats: CommandStats): Result {
  let result: Result;
  try {
    result = dispatch(cmd, stats);
  } catch (e) {
    return ended(e, stats, false);
  }
  if (!(result instanceof Promise)) return result;
  return result.then(undefined, (e: unknown) => ended(e, stats, true));
}

/**
 * The outcome of a command that threw: CHECK CONDITION with its sense, or OVERRUN. What else a command on the
 * thread pool rejects with is a target failure; on the main thread it is the VMM's bug and is thrown on.
 */
function ended(e: unknown, stats: CommandStats, async: boolean): Outcome {
  if (e instanceof Overrun) {
    stats.overruns++;
    return transportResponse(RESP.OVERRUN);
  }
  if (!(e instanceof ScsiCheck) && !async) throw e;
  stats.checkConditions++;
  return checkCondition(e instanceof ScsiCheck ? e : new ScsiCheck(KEY.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE));
}

/** CDB length by opcode group (SPC-4 4.2.5.1); the control byte is its last byte. */
function cdbLength(op: number): number {
  if (op < 0x20) return 6;
  if (op < 0x60) return 10;
  if (op >= 0x80 && op < 0xa0) return 16;
  return 12;
}

function dispatch(cmd: Command, stats: CommandStats): Result {
  const op = cmd.cdb[0]!;
  if (!cmd.present) return missingUnit(cmd, op);
  const run = COMMANDS.get(op);
  if (run === undefined) {
    stats.unsupported++;
    throw invalidOpcode();
  }
  // NACA (normal ACA) is not supported; LINK is obsolete.
  const control = cdbLength(op) - 1;
  if (cmd.cdb[control]! & 0x05) throw invalidField(control, cmd.cdb[control]! & 0x04 ? 2 : 0);
  return run(cmd, stats);
}

function missingUnit(cmd: Command, op: number): Outcome {
  if (op === OP.INQUIRY && (cmd.cdb[1]! & 0x01) === 0) return reply(cmd, standardInquiry(false), cmd.cdb.readUInt16BE(3));
  if (op === OP.REQUEST_SENSE) return reply(cmd, fixedSense(lunNotSupported()), cmd.cdb[4]!);
  if (op === OP.REPORT_LUNS) return reportLuns(cmd);
  throw lunNotSupported();
}

type Run = (cmd: Command, stats: CommandStats) => Result;

const COMMANDS = new Map<number, Run>([
  [OP.TEST_UNIT_READY, () => good()],
  [OP.START_STOP_UNIT, () => good()], // nothing to spin up or down
  [OP.REQUEST_SENSE, requestSense],
  [OP.INQUIRY, inquiry],
  [OP.MODE_SENSE_6, (cmd) => reply(cmd, modeSense(cmd.cdb, cmd.disk), cmd.cdb[4]!)],
  [OP.MODE_SENSE_10, (cmd) => reply(cmd, modeSense(cmd.cdb, cmd.disk), cmd.cdb.readUInt16BE(7))],
  [OP.READ_CAPACITY_10, readCapacity10],
  [OP.SERVICE_ACTION_IN_16, serviceActionIn],
  [OP.REPORT_LUNS, reportLuns],
  [OP.READ_6, readBlocks], [OP.READ_10, readBlocks], [OP.READ_16, readBlocks],
  [OP.WRITE_6, writeBlocks], [OP.WRITE_10, writeBlocks], [OP.WRITE_16, writeBlocks],
  [OP.SYNCHRONIZE_CACHE_10, synchronizeCache], [OP.SYNCHRONIZE_CACHE_16, synchronizeCache],
  [OP.UNMAP, unmap],
  [OP.WRITE_SAME_10, writeSame], [OP.WRITE_SAME_16, writeSame],
]);

/** Sense is returned with each command that fails (autosense), so nothing is ever pending: NO SENSE. */
function requestSense(cmd: Command): Outcome {
  if (cmd.cdb[1]! & 0x01) throw invalidField(1, 0); // DESC: descriptor-format sense is not supported
  return reply(cmd, fixedSense(noSense()), cmd.cdb[4]!);
}

function inquiry(cmd: Command): Outcome {
  const { cdb } = cmd;
  const evpd = (cdb[1]! & 0x01) !== 0;
  if (cdb[1]! & 0xfe) throw invalidField(1, 1); // CMDDT (obsolete) and reserved bits
  const allocation = cdb.readUInt16BE(3);
  if (!evpd) {
    if (cdb[2] !== 0) throw invalidField(2);
    return reply(cmd, standardInquiry(true), allocation);
  }
  const page = vpdPage(cdb[2]!, cmd.disk, cmd.target);
  if (page === undefined) throw invalidField(2);
  return reply(cmd, page, allocation);
}

/** The last block's address, saturated to 0xffffffff (READ CAPACITY(16) then gives it), and the block size. */
function readCapacity10(cmd: Command): Outcome {
  const pmi = (cmd.cdb[8]! & 0x01) !== 0;
  if (!pmi && cmd.cdb.readUInt32BE(2) !== 0) throw invalidField(2);
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.min(cmd.disk.blocks - 1, 0xffff_ffff), 0);
  b.writeUInt32BE(BLOCK, 4);
  return reply(cmd, b, b.length);
}

function serviceActionIn(cmd: Command): Outcome {
  if ((cmd.cdb[1]! & 0x1f) !== SA_READ_CAPACITY_16) throw invalidField(1, 0);
  const b = Buffer.alloc(32);
  b.writeBigUInt64BE(BigInt(cmd.disk.blocks - 1), 0);
  b.writeUInt32BE(BLOCK, 8);
  if (cmd.disk.canUnmap) b[14] = 0x80 | 0x40; // LBPME, LBPRZ: thin, and unmapped blocks read as zeros
  return reply(cmd, b, cmd.cdb.readUInt32BE(10));
}

/** LUN 0, the one logical unit of every target (SELECT REPORT 0 and 2); no well-known units (1). */
function reportLuns(cmd: Command): Outcome {
  const select = cmd.cdb[2]!;
  const allocation = cmd.cdb.readUInt32BE(6);
  if (select > 2) throw invalidField(2);
  if (allocation < 16) throw invalidField(6);
  const luns = select === 1 ? 0 : 1;
  const b = Buffer.alloc(8 + 8 * luns); // LUN 0 is eight zero bytes
  b.writeUInt32BE(8 * luns, 0);
  return reply(cmd, b, allocation);
}
