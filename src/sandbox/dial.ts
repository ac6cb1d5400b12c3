// Reaching the agent: a unix socket, and for a vsock device's hybrid socket the `CONNECT <port>\n` line that
// asks for the guest port, answered `OK <host port>\n` once the agent accepted (docs/devices.md). A device that
// closes the connection instead means nothing listens on that port yet: AGENT_GONE, which waitReady retries.
import * as net from 'node:net';
import { AgentError } from './errors';

/** `OK 4294967295\n` is 14 bytes; anything longer without a newline is not the device speaking. */
const MAX_OK_LINE = 32;

export interface DialOptions {
  socketPath: string;
  /** The guest port to CONNECT to, or 'direct' when socketPath is the agent's own listening socket. */
  port: number | 'direct';
  timeoutMs: number;
}

export interface Dialed {
  socket: net.Socket;
  /** Bytes that came after the OK line (the start of the agent's stream). */
  early: Buffer;
}

function where(opts: DialOptions): string {
  return opts.port === 'direct' ? opts.socketPath : `vsock port ${opts.port} through ${opts.socketPath}`;
}

export function dial(opts: DialOptions): Promise<Dialed> {
  if (opts.port !== 'direct' && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 0xffff_ffff)) {
    return Promise.reject(new RangeError(`port: ${opts.port} is not a vsock port (0 to 2^32-1)`));
  }
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: opts.socketPath });
    let line = Buffer.alloc(0);
    const fail = (err: AgentError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new AgentError('TIMEOUT',
      `no answer from ${where(opts)} within ${opts.timeoutMs} ms (connectTimeoutMs)`)), opts.timeoutMs);
    const onError = (e: NodeJS.ErrnoException): void => fail(new AgentError('AGENT_GONE',
      `cannot reach the agent at ${where(opts)}: ${e.code ?? e.message}`, undefined, { cause: e }));
    const onClose = (): void => fail(new AgentError('AGENT_GONE',
      `${where(opts)} closed the connection before the agent answered (is the agent running and listening?)`));
    const onData = (chunk: Buffer): void => {
      line = Buffer.concat([line, chunk]);
      const nl = line.indexOf(0x0a);
      if (nl < 0) {
        if (line.length > MAX_OK_LINE) fail(new AgentError('PROTOCOL', `${opts.socketPath} answered CONNECT with a line over ${MAX_OK_LINE} bytes`));
        return;
      }
      const text = line.subarray(0, nl).toString('latin1');
      if (nl > MAX_OK_LINE || !/^OK [0-9]{1,10}\r?$/.test(text)) {
        fail(new AgentError('PROTOCOL', `${opts.socketPath} answered CONNECT with ${JSON.stringify(text.slice(0, MAX_OK_LINE))}, not OK <port>`));
        return;
      }
      cleanup();
      resolve({ socket, early: line.subarray(nl + 1) });
    };
    function cleanup(): void {
      clearTimeout(timer);
      // Held until the connection has its own listener on: bytes that came early must not be dropped.
      socket.pause();
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.removeListener('data', onData);
      socket.removeListener('connect', onConnect);
    }
    function onConnect(): void {
      if (opts.port === 'direct') {
        cleanup();
        resolve({ socket, early: Buffer.alloc(0) });
        return;
      }
      socket.write(`CONNECT ${opts.port}\n`);
    }
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('data', onData);
    socket.on('connect', onConnect);
  });
}
