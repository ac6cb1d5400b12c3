// The host side of the sandbox agent (guest/agent/, docs/agent-protocol.md).
export { AgentClient, type AgentClientOptions, type WaitReadyOptions } from './client';
export type { AgentInfo } from './connection';
export { AgentError, type AgentErrorCode } from './errors';
export type { ExecOptions, ExecResult } from './exec';
export type { DirEntry, FileKind, FileStat, WriteOptions } from './files';
export type { OpenedFile } from './read-stream';
export { AgentProcess, type SpawnOptions } from './process';
export { DEFAULT_AGENT_PORT, PROTOCOL_VERSION } from './protocol';
