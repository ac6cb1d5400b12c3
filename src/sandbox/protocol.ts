// The sandbox agent's wire protocol (docs/agent-protocol.md; the guest side is guest/agent/): frame types, field
// tags, channels and limits. Keep in step with guest/agent/agent.h.

export const PROTOCOL_VERSION = 1;
/** The vsock port the agent listens on unless `tsvmm.agent_port=` on the kernel command line says otherwise. */
export const DEFAULT_AGENT_PORT = 1024;

/** u32 payload length, u8 type, u32 stream id; little-endian. */
export const HEADER_SIZE = 9;
/** The largest payload either side sends or accepts. */
export const MAX_PAYLOAD = 1 << 20;
/** The host sends stdin and file contents in pieces of at most this many bytes. */
export const DATA_CHUNK = 64 * 1024;

export const FrameType = {
  HELLO: 0x01, HELLO_OK: 0x02, PING: 0x03, PONG: 0x04,
  EXEC: 0x10, STARTED: 0x11, EXIT: 0x12, SIGNAL: 0x13, RESIZE: 0x14,
  FILE_WRITE: 0x20, FILE_READ: 0x21, STAT: 0x22, LIST: 0x23, MKDIR: 0x24, REMOVE: 0x25,
  READY: 0x28, ENTRIES: 0x29, DONE: 0x2a,
  DATA_IN: 0x30, DATA_OUT: 0x31, DATA_ERR: 0x32, EOF_IN: 0x33, CREDIT: 0x34, CANCEL: 0x35,
  ERROR: 0x3f,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** The frame types the agent may send; anything else from it is a protocol error. */
export const AGENT_FRAME_TYPES: ReadonlySet<number> = new Set([
  FrameType.HELLO_OK, FrameType.PONG, FrameType.STARTED, FrameType.EXIT, FrameType.READY, FrameType.ENTRIES,
  FrameType.DONE, FrameType.DATA_OUT, FrameType.DATA_ERR, FrameType.CREDIT, FrameType.ERROR,
]);

export const Tag = {
  VERSION: 1, NAME: 2, CAP: 3, MAX_FRAME: 4, MAX_STREAMS: 5,
  ARG: 10, ENV: 11, CWD: 12, UID: 13, GID: 14, PTY: 15, ROWS: 16, COLS: 17, WINDOW: 18,
  PID: 20, CODE: 21, SIGNO: 22, GROUP: 23,
  PATH: 30, MODE: 31, SIZE: 32, MTIME: 33, KIND: 34, ENTRY: 35, PARENTS: 36, RECURSIVE: 37, APPEND: 38,
  TARGET: 39, COUNT: 40,
  ERRNO: 50, MESSAGE: 51, STAGE: 52,
} as const;

export const Channel = { IN: 0, OUT: 1, ERR: 2 } as const;

export function frameTypeName(type: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === type) return name;
  return `0x${type.toString(16).padStart(2, '0')}`;
}
