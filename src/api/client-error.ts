// The error of every VmClient call the server refused or could not answer.

/**
 * A request the server refused or could not answer. `code` is the one the same error has in the process (VmError's
 * ERR_VM_STATE, ConfigError's ERR_CONFIG, Node's ERR_OUT_OF_RANGE, the guest agent's NOT_FOUND or TIMEOUT, ...)
 * when the server gave one; `guestErrno` the guest's errno name for an agent's FAILED.
 */
export class ApiClientError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string, readonly code?: string,
    readonly guestErrno?: string) {
    super(message);
    this.name = 'ApiClientError';
  }
}

interface ErrorAnswer { error?: unknown; field?: unknown; code?: unknown; guestErrno?: unknown }

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The ApiClientError for an error answer's body (JSON text, or already parsed), or for an answer that is not one. */
export function answerError(status: number, raw: unknown, what: string): ApiClientError {
  let e: ErrorAnswer | undefined;
  if (typeof raw === 'string') {
    try {
      e = JSON.parse(raw) as ErrorAnswer;
    } catch {
      // not JSON: the message below
    }
  } else if (typeof raw === 'object' && raw !== null) {
    e = raw;
  }
  return new ApiClientError(status, str(e?.error) ?? `${what}: HTTP ${status}`, str(e?.field), str(e?.code), str(e?.guestErrno));
}
