// The one error class of the sandbox client. Its code says what kind of failure it is, so a caller can retry on
// AGENT_GONE, report TIMEOUT, and treat PROTOCOL as a broken guest; `guestErrno` carries the agent's errno name.

export type AgentErrorCode =
  /** The connection to the agent closed or could not be made (the guest stopped, the agent died). */
  | 'AGENT_GONE'
  /** A wait ran past its limit: the handshake, a request, or an exec's timeoutMs. */
  | 'TIMEOUT'
  /** The command or the file does not exist in the guest (ENOENT). */
  | 'NOT_FOUND'
  /** The agent sent something the protocol does not allow; the connection is closed. */
  | 'PROTOCOL'
  /** A cap was hit: maxOutputBytes, maxBytes, maxEntries. */
  | 'LIMIT'
  /** The agent speaks another protocol version. */
  | 'REFUSED'
  /** The caller's AbortSignal fired. */
  | 'ABORTED'
  /** The guest could not do it (EACCES, EISDIR, ...): see guestErrno. */
  | 'FAILED';

export class AgentError extends Error {
  constructor(readonly code: AgentErrorCode, message: string, readonly guestErrno?: string,
    options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
  }
}

/** An ERROR frame's errno name to a code: ENOENT is NOT_FOUND, the rest FAILED. */
export function codeForErrno(errno: string): AgentErrorCode {
  return errno === 'ENOENT' ? 'NOT_FOUND' : 'FAILED';
}
