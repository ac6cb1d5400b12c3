// The host side of virtio-vsock: unix sockets, in the "hybrid" layout Firecracker introduced.
// - Host to guest: we listen on `path`. A host program connects and writes `CONNECT <port>\n` (port in decimal);
//   once the guest accepts, we answer `OK <host port>\n` and the connection carries bytes both ways. If nothing
//   listens on that guest port, or the guest does not answer in time, the connection is closed. A line that is
//   not exactly that, or longer than MAX_LINE bytes, closes it too.
// - Guest to host: a guest connecting to CID 2 port P reaches the unix socket `<path>_P`, which a host program
//   must be listening on; no handshake line is exchanged on that side.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { VsockError } from './errors';

/** `CONNECT 4294967295\n` is 19 bytes; a little slack for a carriage return. */
export const MAX_LINE = 32;
const CONNECT_LINE = /^CONNECT ([0-9]{1,10})\r?$/;

/** The guest port a handshake line asks for, or null when the line is not `CONNECT <u32>`. */
export function parseConnectLine(line: string): number | null {
  const m = CONNECT_LINE.exec(line);
  if (m === null) return null;
  const port = Number(m[1]);
  return port <= 0xffff_ffff ? port : null;
}

export interface UnixBackendEvents {
  /** Whether one more connection may be opened now. */
  admit(): boolean;
  /** A host program asked for guest port `port`; `early` is what it sent after the line. `socket` is paused. */
  connectRequest(socket: net.Socket, port: number, early: Buffer): void;
  /** A host program was turned away (a bad line, no room, too slow); logged once. */
  refused(reason: string): void;
}

export class UnixBackend {
  private readonly server: net.Server;
  private readonly handshakes = new Set<net.Socket>();
  private readonly ino: number;

  constructor(readonly path: string, private readonly events: UnixBackendEvents, private readonly timeoutMs: number) {
    if (fs.existsSync(path)) {
      throw new VsockError('EEXIST', `${path} already exists (a socket left by an earlier run? remove it)`);
    }
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.accept(s));
    this.server.on('error', (e) => events.refused(`listening on ${path}: ${e.message}`));
    // A unix socket binds synchronously; only the error event waits for the next tick.
    this.server.listen(path);
    if (!this.server.listening) throw new VsockError('ELISTEN', `cannot listen on ${path}`);
    this.ino = fs.statSync(path).ino;
  }

  /** Handshakes in progress count against the connection limit too. */
  get handshaking(): number { return this.handshakes.size; }

  /** Opens the unix socket a guest connection to host port `port` goes to. */
  connect(port: number): net.Socket {
    return net.createConnection({ path: `${this.path}_${port}`, allowHalfOpen: true });
  }

  private accept(socket: net.Socket): void {
    if (!this.events.admit()) {
      this.events.refused('too many vsock connections');
      socket.destroy();
      return;
    }
    this.handshakes.add(socket);
    let line: Buffer = Buffer.alloc(0);
    const done = (): void => {
      clearTimeout(timer);
      this.handshakes.delete(socket);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
    };
    const reject = (reason: string): void => {
      done();
      this.events.refused(reason);
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      line = line.length === 0 ? chunk : Buffer.concat([line, chunk]);
      const nl = line.indexOf(0x0a);
      if (nl < 0) {
        if (line.length > MAX_LINE) reject(`handshake line longer than ${MAX_LINE} bytes`);
        return;
      }
      const port = nl <= MAX_LINE ? parseConnectLine(line.subarray(0, nl).toString('latin1')) : null;
      if (port === null) return reject(`bad handshake line ${JSON.stringify(line.subarray(0, Math.min(nl, MAX_LINE)).toString('latin1'))}`);
      socket.pause();
      done();
      this.events.connectRequest(socket, port, line.subarray(nl + 1));
    };
    const onEnd = (): void => reject('host program closed before its CONNECT line');
    const onError = (e: Error): void => reject(`host socket: ${e.message}`);
    const timer = setTimeout(() => reject(`no CONNECT line within ${this.timeoutMs} ms`), this.timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.resume();
  }

  /** Stops listening, drops handshakes in progress and removes the socket file we created. */
  close(): void {
    for (const s of this.handshakes) s.destroy();
    this.handshakes.clear();
    this.server.close();
    try {
      // libuv unlinks the path when it closes the listener; this only covers the case where it did not.
      if (fs.lstatSync(this.path).ino === this.ino) fs.unlinkSync(this.path);
    } catch { /* already gone */ }
  }
}
