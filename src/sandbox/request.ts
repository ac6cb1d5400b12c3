// A request on its own stream that the agent answers with one or more frames (the file operations). Each frame
// from the agent restarts an idle timer; when it runs out, or the caller gives up, the request is cancelled and
// its stream kept until the agent's answer to the cancel, so a late frame is not mistaken for a protocol error.
import { Fields, type Frame } from './codec';
import type { AgentConnection, StreamHandler } from './connection';
import { AgentError, codeForErrno } from './errors';
import { FrameType, frameTypeName, Tag } from './protocol';

export interface RequestContext<T> {
  conn: AgentConnection;
  id: number;
  /** Where this request's frames are named in errors, e.g. `read /etc/hosts`. */
  what: string;
  resolve(value: T): void;
  /** Rejects and cancels the request in the agent. */
  reject(err: AgentError): void;
}

/** Handles one frame (not ERROR: that is handled here); throwing an AgentError fails the connection. */
export type FrameHandler<T> = (frame: Frame, ctx: RequestContext<T>) => void;

const TERMINAL = new Set<number>([FrameType.DONE, FrameType.ERROR]);

export function request<T>(conn: AgentConnection, type: number, payload: Buffer, what: string, idleMs: number,
  onFrame: FrameHandler<T>, onStart?: (ctx: RequestContext<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let cancelled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => ctx.reject(new AgentError('TIMEOUT',
        `${what}: the agent sent nothing for ${idleMs} ms (requestTimeoutMs)`)), idleMs);
    };
    const handler: StreamHandler = {
      onFrame(frame) {
        // Once abandoned, the frames up to the stream's end are only consumed.
        if (settled || cancelled) {
          if (TERMINAL.has(frame.type)) conn.endStream(ctx.id);
          return;
        }
        arm();
        if (frame.type === FrameType.ERROR) {
          conn.endStream(ctx.id);
          const f = Fields.parse(frame.payload, `ERROR for ${what}`);
          const errno = f.str(Tag.ERRNO, 64) ?? 'EOTHER';
          settle(() => reject(new AgentError(codeForErrno(errno), `${what}: ${f.str(Tag.MESSAGE, 4096) ?? errno}`, errno)));
          return;
        }
        onFrame(frame, ctx);
        if (TERMINAL.has(frame.type)) conn.endStream(ctx.id);
      },
      onClose(err) {
        settle(() => reject(new AgentError(err.code, `${what}: ${err.message}`, err.guestErrno, { cause: err })));
      },
    };
    let id: number;
    try {
      id = conn.openStream(handler);
    } catch (e) {
      reject(e);
      return;
    }
    const ctx: RequestContext<T> = {
      conn, id, what,
      resolve: (value) => settle(() => resolve(value)),
      reject: (err) => {
        if (settled) return;
        cancelled = true;
        conn.send(FrameType.CANCEL, id);
        settle(() => reject(err));
      },
    };
    conn.send(type, id, payload);
    arm();
    onStart?.(ctx);
  });
}

export function unexpected(frame: Frame, what: string): AgentError {
  return new AgentError('PROTOCOL', `the agent sent ${frameTypeName(frame.type)} for ${what}, which that request does not get`);
}
