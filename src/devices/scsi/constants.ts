// Numbers from the virtio 1.2 spec (section 5.6, SCSI host device), SPC-4 and SBC-3 that the device speaks, and
// the limits it sets itself. One place, so the config space, the VPD pages and the checks agree.

/** Logical block size of every disk. */
export const BLOCK = 512;

/** The request queue's size; seg_max leaves room for the request header and the response. */
export const REQUEST_QUEUE_SIZE = 256;
export const SEG_MAX = REQUEST_QUEUE_SIZE - 2;
/** Most blocks one READ or WRITE moves (4 MiB): max_sectors, and the block limits page's MAXIMUM TRANSFER LENGTH. */
export const MAX_SECTORS = 8192;
/** Most UNMAP block descriptors in one command: each is a syscall on the main thread. */
export const MAX_UNMAP_DESCRIPTORS = 16;
/** Most blocks one UNMAP command (all its descriptors together) may name, 2 GiB. */
export const MAX_UNMAP_BLOCKS = 0x3f_ffff;
/** Most blocks one WRITE SAME may name (32 MiB): a pattern other than zeros is written block by block. */
export const MAX_WRITE_SAME_BLOCKS = 65536;
/** The longest parameter list UNMAP reads: its header and the descriptors it may hold. */
export const UNMAP_LIST_MAX = 8 + 16 * MAX_UNMAP_DESCRIPTORS;

export const TARGETS_MAX = 16;

/** virtio_scsi_config: offsets, defaults and the bounds a driver may set sense_size and cdb_size within. */
export const CONFIG = {
  BYTES: 36, SENSE_SIZE: 20, CDB_SIZE: 24,
  SENSE_DEFAULT: 96, CDB_DEFAULT: 32,
  /** Fixed-format sense data is 18 bytes; a driver may ask for less (it gets the first bytes) or more, to 252. */
  SENSE_MIN: 0, SENSE_MAX: 252,
  /** Every CDB the device understands is at most 16 bytes; SPC's longest is 260. */
  CDB_MIN: 16, CDB_MAX: 260,
  EVENT_INFO_SIZE: 16,
} as const;

/** virtio_scsi_req_cmd: the device-readable header before the CDB, and the response before the sense bytes. */
export const REQ_HEADER_BYTES = 19;
export const RESP_HEADER_BYTES = 12;

/** The response byte (virtio 1.2, 5.6.6.1 and 5.6.6.2). */
export const RESP = {
  OK: 0, OVERRUN: 1, ABORTED: 2, BAD_TARGET: 3, RESET: 4, BUSY: 5, TRANSPORT_FAILURE: 6, TARGET_FAILURE: 7,
  NEXUS_FAILURE: 8, FAILURE: 9, FUNCTION_SUCCEEDED: 10, FUNCTION_REJECTED: 11, INCORRECT_LUN: 12,
} as const;
/** FUNCTION COMPLETE shares OK's value. */
export const FUNCTION_COMPLETE = RESP.OK;

/** Control queue request types and task management functions. */
export const CTRL = { TMF: 0, AN_QUERY: 1, AN_SUBSCRIBE: 2 } as const;
export const TMF = {
  ABORT_TASK: 0, ABORT_TASK_SET: 1, CLEAR_ACA: 2, CLEAR_TASK_SET: 3, I_T_NEXUS_RESET: 4, LOGICAL_UNIT_RESET: 5,
  QUERY_TASK: 6, QUERY_TASK_SET: 7,
} as const;
/** virtio_scsi_ctrl_tmf: 24 readable bytes, a 1-byte response; virtio_scsi_ctrl_an: 16 readable, 5 writable. */
export const TMF_REQ_BYTES = 24;
export const AN_REQ_BYTES = 16;
export const AN_RESP_BYTES = 5;

/** SCSI status (SAM). */
export const STATUS = { GOOD: 0x00, CHECK_CONDITION: 0x02 } as const;

export const OP = {
  TEST_UNIT_READY: 0x00, REQUEST_SENSE: 0x03, READ_6: 0x08, WRITE_6: 0x0a, INQUIRY: 0x12, MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b, READ_CAPACITY_10: 0x25, READ_10: 0x28, WRITE_10: 0x2a, SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_SAME_10: 0x41, UNMAP: 0x42, MODE_SENSE_10: 0x5a, READ_16: 0x88, WRITE_16: 0x8a, SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93, SERVICE_ACTION_IN_16: 0x9e, REPORT_LUNS: 0xa0,
} as const;
/** SERVICE ACTION IN(16)'s READ CAPACITY(16). */
export const SA_READ_CAPACITY_16 = 0x10;

/** Sense keys. */
export const KEY = {
  NO_SENSE: 0x0, MEDIUM_ERROR: 0x3, HARDWARE_ERROR: 0x4, ILLEGAL_REQUEST: 0x5, DATA_PROTECT: 0x7,
} as const;

/** Additional sense codes and qualifiers, as [asc, ascq]. */
export const ASC = {
  NONE: [0x00, 0x00],
  WRITE_ERROR: [0x0c, 0x00],
  UNRECOVERED_READ_ERROR: [0x11, 0x00],
  PARAMETER_LIST_LENGTH_ERROR: [0x1a, 0x00],
  INVALID_COMMAND_OPERATION_CODE: [0x20, 0x00],
  LBA_OUT_OF_RANGE: [0x21, 0x00],
  INVALID_FIELD_IN_CDB: [0x24, 0x00],
  LOGICAL_UNIT_NOT_SUPPORTED: [0x25, 0x00],
  INVALID_FIELD_IN_PARAMETER_LIST: [0x26, 0x00],
  WRITE_PROTECTED: [0x27, 0x00],
  SPACE_ALLOCATION_FAILED_WRITE_PROTECT: [0x27, 0x07],
  SAVING_PARAMETERS_NOT_SUPPORTED: [0x39, 0x00],
  INTERNAL_TARGET_FAILURE: [0x44, 0x00],
} as const satisfies Record<string, readonly [number, number]>;

export type AscPair = readonly [asc: number, ascq: number];
