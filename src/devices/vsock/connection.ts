// One vsock stream between a guest port and a host unix socket: its state, the credit accounting of both
// directions, and the packets it owes the guest. It never touches a virtqueue: the device asks it for its next
// packet when an rx buffer is free (nextPacket) and hands it the guest's packets (onPacket).
//
// Credit (virtio 1.2, 5.10.6.3): we send the guest at most buf_alloc - (tx_cnt - fwd_cnt) payload bytes, from the
// latest buf_alloc and fwd_cnt it sent us. In the other direction we advertise BUF_ALLOC and count in fwdCnt the
// bytes the host socket has taken from us; what the guest has sent and the socket has not taken yet is all we
// buffer, so a guest that respects our credit can never make us hold more than BUF_ALLOC.
import type * as net from 'node:net';
import {
  HOST_CID, MAX_PAYLOAD, OP, OP_NAMES, SHUTDOWN_BOTH, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM, u32diff,
  type VsockHeader,
} from './packet';
import { gather } from '../../virtio-mmio/segments';

/** Bytes of guest data we buffer per connection on the way to the host socket (what we advertise as buf_alloc). */
export const BUF_ALLOC = 256 * 1024;
/** Consumption not yet advertised that is worth a CREDIT_UPDATE of its own. */
const CREDIT_UPDATE_THRESHOLD = BUF_ALLOC / 4;

export type ConnState = 'host-connecting' | 'guest-connecting' | 'established' | 'closing' | 'closed';
export type VsockCounter =
  | 'errors' | 'hostErrors' | 'connectFailures' | 'connectTimeouts' | 'shutdownTimeouts' | 'resetsReceived';

export interface ConnectionOwner {
  readonly guestCid: bigint;
  readonly connectTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** The connection may have a packet for the guest. */
  wake(conn: Connection): void;
  /** The connection is over: forget it, and send the guest an RST for it when `rst` is set. */
  finished(conn: Connection, rst: boolean): void;
  /** `reason`, built only when it is logged (the first time), says what happened. */
  count(counter: VsockCounter, reason?: () => string): void;
  /** Wraps a callback the event loop makes (a socket event, a timer), so a bug in it ends only this machine. */
  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
}

export interface OutPacket {
  hdr: VsockHeader;
  payload: Buffer[];
}

const WANT_REQUEST = 1;
const WANT_RESPONSE = 2;
const WANT_CREDIT_UPDATE = 4;
const WANT_CREDIT_REQUEST = 8;

export class Connection {
  state: ConnState;
  /** Control packets owed to the guest (WANT_*). */
  private want = 0;
  // host socket → guest
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private txCnt = 0;
  private peerBufAlloc = 0;
  private peerFwdCnt = 0;
  private creditRequested = false;
  // guest → host socket
  private rxCnt = 0;
  private fwdCnt = 0;
  private advertisedFwdCnt = 0;
  private shutdownToSend = 0;
  private shutdownSent = 0;
  private peerShutdown = 0;
  private timer: NodeJS.Timeout | undefined;

  /**
   * From the host: `socket` has sent `CONNECT <peerPort>` (and `early`, bytes that followed the line); we ask the
   * guest with a REQUEST. From the guest: `request` is its REQUEST and `socket` is still connecting.
   */
  constructor(private readonly owner: ConnectionOwner, readonly socket: net.Socket, readonly localPort: number,
    readonly peerPort: number, from: { early: Buffer } | { request: VsockHeader }) {
    socket.on('data', owner.guard((chunk: Buffer) => this.onHostData(chunk)));
    socket.on('end', owner.guard(() => this.onHostEnd()));
    socket.on('close', owner.guard(() => this.onHostClose()));
    socket.on('error', owner.guard((e: Error) => {
      // A guest's connect that finds nobody listening is counted once, as a connect failure, when the socket closes.
      if (this.state !== 'guest-connecting') owner.count('hostErrors', () => `host socket of port ${localPort}: ${e.message}`);
    }));
    if ('early' in from) {
      this.state = 'host-connecting';
      this.want = WANT_REQUEST;
      if (from.early.length > 0) this.queueHostData(from.early);
      this.arm(owner.connectTimeoutMs, () => {
        owner.count('connectTimeouts', () => `guest port ${peerPort} did not answer in ${owner.connectTimeoutMs} ms`);
        this.finish(!(this.want & WANT_REQUEST), false);
      });
    } else {
      this.state = 'guest-connecting';
      this.takeCredit(from.request);
      socket.once('connect', owner.guard(() => this.onHostConnected()));
    }
  }

  get key(): string { return connKey(this.localPort, this.peerPort); }

  // ---- the host side ------------------------------------------------------------------------------------------

  private onHostConnected(): void {
    if (this.state !== 'guest-connecting') return;
    this.state = 'established';
    this.want |= WANT_RESPONSE;
    this.owner.wake(this);
    this.flow();
  }

  private onHostData(chunk: Buffer): void {
    if (this.state === 'closed' || (this.peerShutdown & SHUTDOWN_RCV)) return;
    this.queueHostData(chunk);
    this.owner.wake(this);
    this.flow();
  }

  private queueHostData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.askCredit();
  }

  private onHostEnd(): void {
    this.shutdownToSend |= SHUTDOWN_SEND;
    this.owner.wake(this);
  }

  private onHostClose(): void {
    switch (this.state) {
      case 'host-connecting':
        this.finish(!(this.want & WANT_REQUEST), false);
        return;
      case 'guest-connecting':
        this.owner.count('connectFailures', () => `no host program listens on port ${this.localPort}`);
        this.finish(true, false);
        return;
      case 'established':
        // What the host sent before closing still goes to the guest, then SHUTDOWN; the guest answers with RST.
        this.state = 'closing';
        this.shutdownToSend = SHUTDOWN_BOTH;
        this.arm(this.owner.shutdownTimeoutMs, () => {
          this.owner.count('shutdownTimeouts');
          this.finish(true, false);
        });
        this.owner.wake(this);
        return;
      default:
    }
  }

  /** Reads from the host socket only while everything read so far has reached the guest. */
  private flow(): void {
    const reading = this.state === 'established' && this.pendingBytes === 0 && !(this.peerShutdown & SHUTDOWN_RCV);
    if (reading === this.socket.isPaused()) {
      if (reading) this.socket.resume(); else this.socket.pause();
    }
  }

  // ---- the guest side -----------------------------------------------------------------------------------------

  /** A packet from the guest for this connection (cids, type and lengths already checked by the device). */
  onPacket(h: VsockHeader, payload: readonly Uint8Array[]): void {
    if (this.state === 'closed') return;
    this.takeCredit(h);
    switch (h.op) {
      case OP.RST:
        this.owner.count('resetsReceived');
        this.finish(false, true);
        return;
      case OP.RESPONSE:
        if (this.state !== 'host-connecting' || (this.want & WANT_REQUEST)) return this.violation('RESPONSE');
        this.state = 'established';
        this.clearTimer();
        this.socket.write(`OK ${this.localPort}\n`);
        this.flow();
        break;
      case OP.RW:
        if (!this.onGuestData(h.len, payload)) return;
        break;
      case OP.SHUTDOWN:
        if (!this.onGuestShutdown(h.flags & SHUTDOWN_BOTH)) return;
        break;
      case OP.CREDIT_UPDATE:
        break;
      case OP.CREDIT_REQUEST:
        if (!this.connected()) return this.violation('CREDIT_REQUEST');
        this.want |= WANT_CREDIT_UPDATE;
        break;
      default:
        return this.violation(OP_NAMES[h.op] ?? `op ${h.op}`);
    }
    this.askCredit();
    this.owner.wake(this);
  }

  private takeCredit(h: VsockHeader): void {
    this.peerBufAlloc = h.bufAlloc;
    this.peerFwdCnt = h.fwdCnt;
    if (this.credit() > 0) this.creditRequested = false;
  }

  private onGuestData(len: number, payload: readonly Uint8Array[]): boolean {
    // Closing: the host is gone and the guest has not heard yet; what it sends meanwhile has nowhere to go.
    if (this.state === 'closing') return true;
    if (this.state !== 'established') { this.violation('RW'); return false; }
    if (this.peerShutdown & SHUTDOWN_SEND) { this.violation('RW after SHUTDOWN(SEND)'); return false; }
    if (len === 0) return true;
    if (u32diff(this.rxCnt, this.fwdCnt) + len > BUF_ALLOC) {
      this.violation(`RW of ${len} bytes beyond the credit it was given`);
      return false;
    }
    // The one copy: the chain goes back to the guest now, the socket writes later.
    const data = gather(payload, len);
    if (data === undefined) { this.violation(`RW of ${len} bytes with less payload than that`); return false; }
    this.rxCnt = (this.rxCnt + len) >>> 0;
    this.socket.write(data, (err) => {
      if (err || this.state === 'closed') return;
      this.fwdCnt = (this.fwdCnt + len) >>> 0;
      if (u32diff(this.fwdCnt, this.advertisedFwdCnt) >= CREDIT_UPDATE_THRESHOLD) {
        this.want |= WANT_CREDIT_UPDATE;
        this.owner.wake(this);
      }
    });
    return true;
  }

  private onGuestShutdown(flags: number): boolean {
    if (!this.connected()) { this.violation('SHUTDOWN'); return false; }
    if (this.state === 'closing') {
      // We already said SHUTDOWN; the guest agreeing in full is as good as its RST.
      this.peerShutdown |= flags;
      if (this.peerShutdown !== SHUTDOWN_BOTH) return true;
      this.finish(true, false);
      return false;
    }
    this.peerShutdown |= flags;
    if (flags & SHUTDOWN_SEND) this.socket.end();
    if (flags & SHUTDOWN_RCV) {
      this.pending = [];
      this.pendingBytes = 0;
      this.flow();
    }
    if (this.peerShutdown === SHUTDOWN_BOTH) {
      this.finish(true, true);
      return false;
    }
    return true;
  }

  private violation(what: string): void {
    this.owner.count('errors', () => `${what} on connection ${this.localPort}:${this.peerPort} in state ${this.state}`);
    this.finish(true, false);
  }

  private connected(): boolean { return this.state === 'established' || this.state === 'closing'; }

  // ---- packets for the guest ----------------------------------------------------------------------------------

  private credit(): number {
    return Math.max(0, this.peerBufAlloc - u32diff(this.txCnt, this.peerFwdCnt));
  }

  private sendable(): number {
    if (!this.connected() || (this.peerShutdown & SHUTDOWN_RCV)) return 0;
    return Math.min(this.pendingBytes, this.credit(), MAX_PAYLOAD);
  }

  /** Asks the guest for credit once per stall, in case its CREDIT_UPDATE never comes on its own. */
  private askCredit(): void {
    if (this.pendingBytes > 0 && this.connected() && this.credit() === 0 && !this.creditRequested) {
      this.creditRequested = true;
      this.want |= WANT_CREDIT_REQUEST;
    }
  }

  private shutdownDue(): number {
    if (!this.connected() || (this.pendingBytes > 0 && !(this.peerShutdown & SHUTDOWN_RCV))) return 0;
    return this.shutdownToSend & ~this.shutdownSent;
  }

  hasWork(): boolean {
    return this.state !== 'closed' && (this.want !== 0 || this.sendable() > 0 || this.shutdownDue() !== 0);
  }

  /** The next packet for the guest, with at most `room` payload bytes; null when there is none that fits. */
  nextPacket(room: number): OutPacket | null {
    if (this.state === 'closed') return null;
    if (this.want & WANT_REQUEST) return this.control(WANT_REQUEST, OP.REQUEST);
    if (this.want & WANT_RESPONSE) return this.control(WANT_RESPONSE, OP.RESPONSE);
    const n = Math.min(room, this.sendable());
    if (n > 0) return this.data(n);
    if (this.want & WANT_CREDIT_UPDATE) return this.control(WANT_CREDIT_UPDATE, OP.CREDIT_UPDATE);
    if (this.want & WANT_CREDIT_REQUEST) return this.control(WANT_CREDIT_REQUEST, OP.CREDIT_REQUEST);
    if (this.shutdownDue() !== 0) {
      // The flags say everything shut down so far, not only what changed.
      this.shutdownSent = this.shutdownToSend;
      return { hdr: this.header(OP.SHUTDOWN, this.shutdownToSend, 0), payload: [] };
    }
    return null;
  }

  private control(bit: number, op: number): OutPacket {
    this.want &= ~bit;
    return { hdr: this.header(op, 0, 0), payload: [] };
  }

  private data(n: number): OutPacket {
    const payload: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const head = this.pending[0]!;
      if (head.length <= left) {
        payload.push(head);
        this.pending.shift();
        left -= head.length;
      } else {
        payload.push(head.subarray(0, left));
        this.pending[0] = head.subarray(left);
        left = 0;
      }
    }
    this.pendingBytes -= n;
    this.txCnt = (this.txCnt + n) >>> 0;
    this.askCredit();
    if (this.pendingBytes === 0) this.flow();
    return { hdr: this.header(OP.RW, 0, n), payload };
  }

  /** Every packet carries our fwd_cnt, so each one is also a credit update. */
  private header(op: number, flags: number, len: number): VsockHeader {
    this.want &= ~WANT_CREDIT_UPDATE;
    this.advertisedFwdCnt = this.fwdCnt;
    return {
      srcCid: HOST_CID, dstCid: this.owner.guestCid, srcPort: this.localPort, dstPort: this.peerPort, len,
      type: TYPE_STREAM, op, flags, bufAlloc: BUF_ALLOC, fwdCnt: this.fwdCnt,
    };
  }

  // ---- the end ------------------------------------------------------------------------------------------------

  /**
   * Ends the connection. With `flush`, guest data the socket has not taken yet still goes out (bounded by the
   * shutdown timeout); without it the socket is dropped at once.
   */
  finish(rst: boolean, flush: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    this.want = 0;
    this.pending = [];
    this.pendingBytes = 0;
    if (flush && !this.socket.destroyed && !this.socket.connecting) {
      this.socket.end();
      const linger = setTimeout(() => this.socket.destroy(), this.owner.shutdownTimeoutMs);
      linger.unref();
      this.socket.once('close', () => clearTimeout(linger));
    } else {
      this.socket.destroy();
    }
    this.owner.finished(this, rst);
  }

  /** Drops the connection without a word to the guest (device reset, machine end). */
  destroy(): void {
    this.state = 'closed';
    this.clearTimer();
    this.socket.destroy();
  }

  private arm(ms: number, fire: () => void): void {
    this.clearTimer();
    this.timer = setTimeout(this.owner.guard(fire), ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export function connKey(localPort: number, peerPort: number): string {
  return `${localPort}:${peerPort}`;
}
