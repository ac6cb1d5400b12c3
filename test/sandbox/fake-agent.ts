// A scripted stand-in for the guest agent (and, with `hybrid`, for the vsock device's CONNECT handshake in front
// of it), for the client's behaviour against an agent that is slow, wrong or hostile.
import * as net from 'node:net';
import { encodeFrame, FieldWriter, FrameDecoder, type Frame } from '../../src/sandbox/codec';
import { FrameType, Tag } from '../../src/sandbox/protocol';

export interface FakeConn {
  index: number;
  sock: net.Socket;
  frames: Frame[];
  send(type: number, stream: number, payload?: Uint8Array): void;
}

export interface FakeBehaviour {
  /** With a CONNECT line first: how to answer it; default 'ok'. */
  hybrid?: (line: string, conn: FakeConn) => 'ok' | 'close' | 'silent';
  /** The answer to HELLO; default HELLO_OK for version 1. */
  hello?: (frame: Frame, conn: FakeConn) => void;
  /** Every frame after HELLO. */
  frame?: (frame: Frame, conn: FakeConn) => void;
}

export function helloOk(conn: FakeConn, version = 1): void {
  conn.send(FrameType.HELLO_OK, 0, new FieldWriter().u32(Tag.VERSION, version).bytes(Tag.NAME, 'fake-agent 0.0.1')
    .bytes(Tag.CAP, 'exec').u32(Tag.MAX_FRAME, 1 << 20).u32(Tag.MAX_STREAMS, 64).finish());
}

export class FakeAgent {
  readonly conns: FakeConn[] = [];
  readonly lines: string[] = [];
  private readonly server: net.Server;

  constructor(readonly path: string, private readonly behaviour: FakeBehaviour = {}) {
    this.server = net.createServer((sock) => this.accept(sock));
  }

  listen(): Promise<this> {
    return new Promise((resolve) => this.server.listen(this.path, () => resolve(this)));
  }

  close(): void {
    for (const c of this.conns) c.sock.destroy();
    this.server.close();
  }

  private accept(sock: net.Socket): void {
    sock.on('error', () => {});
    const conn: FakeConn = {
      index: this.conns.length, sock, frames: [],
      send: (type, stream, payload) => { if (!sock.destroyed) sock.write(encodeFrame(type, stream, payload)); },
    };
    this.conns.push(conn);
    const decoder = new FrameDecoder();
    let line = this.behaviour.hybrid ? '' : undefined;
    let greeted = false;
    sock.on('data', (d: Buffer) => {
      let chunk = d;
      if (line !== undefined) {
        const nl = chunk.indexOf(0x0a);
        line += chunk.subarray(0, nl < 0 ? chunk.length : nl).toString('latin1');
        if (nl < 0) return;
        const text = line;
        line = undefined;
        this.lines.push(text);
        const answer = this.behaviour.hybrid!(text, conn);
        if (answer === 'close') return void sock.destroy();
        if (answer === 'silent') return;
        sock.write('OK 1073741824\n');
        chunk = chunk.subarray(nl + 1);
      }
      for (const frame of decoder.push(chunk)) {
        conn.frames.push(frame);
        if (!greeted) {
          greeted = true;
          (this.behaviour.hello ?? ((_f, c) => helloOk(c)))(frame, conn);
        } else {
          this.behaviour.frame?.(frame, conn);
        }
      }
    });
  }
}
