// virtio-vsock (device type 19): stream sockets between guest ports and host programs on unix sockets (see
// unix-backend.ts for the host-side protocol). Queues: rx (0) carries packets to the guest, tx (1) the guest's
// packets, event (2) holds the driver's buffers for the one event the device sends: TRANSPORT_RESET, once, after
// the machine was restored from a snapshot, whose connections did not survive (their host sockets are gone).
// Config space is guest_cid (u64).
//
// The guest is not trusted: a packet with the wrong cids is dropped, one with a length its buffers do not hold or
// an op that makes no sense in the connection's state costs that packet or that connection (RST), counted; only a
// chain the queue cannot walk, or one too short to hold a header, costs the device (DEVICE_NEEDS_RESET).
// Connections are bounded; so are the RSTs waiting for rx buffers.
import type * as net from 'node:net';
import type { Logger } from 'pino';
import { fromEventLoop, serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import { QueueError, type DescriptorChain, type Virtqueue } from '../../virtio-mmio/queue';
import { scatter } from '../../virtio-mmio/segments';
import { connKey, Connection, type ConnectionOwner, type OutPacket, type VsockCounter } from './connection';
import {
  HDR_SIZE, HOST_CID, MAX_PAYLOAD, OP, readPacket, TYPE_STREAM, writePacket, type VsockHeader,
} from './packet';
import { UnixBackend } from './unix-backend';
import { TurnBudget } from '../turn-budget';
import { savedObject } from '../saved-state';

const RX = 0;
const TX = 1;
const EVENT = 2;
/** struct virtio_vsock_event's id for a transport reset: the guest drops every connection (virtio 1.2, 5.10.6.7). */
const EVENT_TRANSPORT_RESET = 0;
const VIRTIO_VSOCK_F_STREAM = 1n << 0n;
/** Host ports for connections the host opens are handed out from here up (as Firecracker does). */
const FIRST_HOST_PORT = 1 << 30;
/** RSTs for packets that belong to no connection, waiting for rx buffers; beyond this they are dropped. */
const MAX_QUEUED_RESETS = 256;

export interface VsockOptions {
  cid: number;
  /** The unix socket host programs connect to; guest connections go to `<socket>_<port>`. */
  socket: string;
  /** Connections (and host handshakes in progress) at once. Default 256. */
  maxConnections?: number;
  /** How long a CONNECT waits for the guest's answer, and a host program for its CONNECT line. Default 2000. */
  connectTimeoutMs?: number;
  /** How long a connection whose host side closed waits for the guest's RST. Default 5000. */
  shutdownTimeoutMs?: number;
  log?: Logger;
}

export class VsockDevice implements VirtioDevice, ConnectionOwner {
  readonly deviceType = 19;
  readonly queueMaxSizes = [256, 256, 64];
  readonly features = VIRTIO_VSOCK_F_STREAM;
  readonly guestCid: bigint;
  readonly connectTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly backend: UnixBackend;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly conns = new Map<string, Connection>();
  /** How many connections use each host port, so new host-side ports avoid them. */
  private readonly portsInUse = new Map<number, number>();
  private nextHostPort = FIRST_HOST_PORT;
  /** Connections that may have a packet for the guest, served round-robin. */
  private readonly ready = new Set<Connection>();
  private resets: VsockHeader[] = [];
  /** An rx chain taken from the ring for which nothing turned out to fit; used before the next pop. */
  private heldRx: DescriptorChain | null = null;
  private inRx = false;
  /** Restored from a snapshot: the guest is told its connections are gone with the first event buffer it gives. */
  private transportResetDue = false;
  /** The snapshot's CID, still taken as the guest's after a restore with a new one, until the guest uses the new one. */
  private formerCid: bigint | undefined;
  private rxAgain = false;
  /** Every host socket of a connection not yet closed, lingering ones included. */
  private readonly sockets = new Set<net.Socket>();
  private readonly logged = new Set<string>();
  /** Walking a full ring of ~4 GiB tx chains takes ~80 ms, so tx is served in slices of the turn. */
  private readonly txTurns = new TurnBudget(() => this.host, () => this.onQueueNotify(TX));
  private readonly stats = {
    connectionsTotal: 0, connectionsRefused: 0, connectFailures: 0, connectTimeouts: 0, shutdownTimeouts: 0,
    rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, resetsSent: 0, resetsReceived: 0, resetsDropped: 0,
    errors: 0, hostErrors: 0, transportResets: 0,
  };

  constructor(private readonly opts: VsockOptions) {
    this.guestCid = BigInt(opts.cid);
    this.maxConnections = opts.maxConnections ?? 256;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 5000;
    this.backend = new UnixBackend(opts.socket, {
      admit: () => this.room(),
      connectRequest: this.guard((socket: net.Socket, port: number, early: Buffer) => this.hostConnect(socket, port, early)),
      refused: this.guard((reason: string) => this.count('hostErrors', () => reason)),
    }, this.connectTimeoutMs);
  }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(8);
    c.writeBigUInt64LE(this.guestCid, 0);
    return c;
  }

  attach(host: DeviceHost): void { this.host = host; }

  guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return fromEventLoop(() => this.host, fn);
  }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    this.processEvents();
    this.processRx();
  }

  onQueueNotify(queue: number): void {
    if (queue === TX) this.processTx();
    else if (queue === EVENT) this.processEvents();
    this.processRx();
  }

  // ---- snapshots ----------------------------------------------------------------------------------------------

  /**
   * Only the guest's CID goes into a snapshot: connections cannot go on in a restored machine. An rx chain held for
   * a packet that did not fit goes back to the ring, so the restored guest has all its buffers.
   */
  snapshotState(): { cid: string } {
    const rx: Virtqueue | undefined = this.ctx?.queues[RX];
    if (this.heldRx !== null && rx !== undefined) rx.unpop();
    this.heldRx = null;
    return { cid: this.guestCid.toString() };
  }

  /**
   * A restored device starts with no connections, and tells the guest so (as Firecracker does). Given a CID of its
   * own (a clone), it also takes the snapshot's CID as the guest's until the guest sends one packet from the new
   * one: Linux reads guest_cid again only when it handles the reset, and whatever it sends before that (an answer
   * to a host connecting at once) still carries the old one.
   */
  restoreState(state?: unknown): void {
    this.transportResetDue = true;
    const saved = savedObject(state);
    if (saved.cid === undefined) return; // a snapshot of an older version kept no CID
    if (typeof saved.cid !== 'string' || !/^\d{1,10}$/.test(saved.cid)) {
      throw new RangeError(`cid is ${JSON.stringify(saved.cid)}, not a context id`);
    }
    const old = BigInt(saved.cid);
    this.formerCid = old === this.guestCid ? undefined : old;
  }

  /** Sends the transport reset that is due, once the driver gives an event buffer. */
  private processEvents(): void {
    if (!this.transportResetDue) return;
    serveQueue(this.ctx, this.ctx?.queues[EVENT], this.countError, (q) => {
      const chain = q.pop();
      if (chain === null) return false;
      if (chain.readableBytes > 0 || chain.writableBytes < 4) {
        throw new QueueError('E_LEN', 'an event chain needs 4+ device-writable bytes and nothing else', chain.head);
      }
      const event = Buffer.alloc(4);
      event.writeUInt32LE(EVENT_TRANSPORT_RESET, 0);
      q.pushUsed(chain.head, scatter(chain.writable, 0, event));
      this.transportResetDue = false;
      this.stats.transportResets++;
      return true;
    });
  }

  // ---- connections --------------------------------------------------------------------------------------------

  private room(): boolean {
    return this.conns.size + this.backend.handshaking < this.maxConnections;
  }

  private hostConnect(socket: net.Socket, port: number, early: Buffer): void {
    let local = this.nextHostPort;
    while (this.portsInUse.has(local)) local = local === 0xffff_ffff ? FIRST_HOST_PORT : local + 1;
    this.nextHostPort = local === 0xffff_ffff ? FIRST_HOST_PORT : local + 1;
    this.add(new Connection(this, socket, local, port, { early }));
  }

  private guestConnect(h: VsockHeader): void {
    if (!this.room()) {
      this.stats.connectionsRefused++;
      this.queueReset(h.dstPort, h.srcPort);
      return;
    }
    this.add(new Connection(this, this.backend.connect(h.dstPort), h.dstPort, h.srcPort, { request: h }));
  }

  private add(conn: Connection): void {
    this.conns.set(conn.key, conn);
    this.portsInUse.set(conn.localPort, (this.portsInUse.get(conn.localPort) ?? 0) + 1);
    this.sockets.add(conn.socket);
    conn.socket.once('close', () => this.sockets.delete(conn.socket));
    this.stats.connectionsTotal++;
    this.wake(conn);
  }

  wake(conn: Connection): void {
    if (!conn.hasWork()) return;
    this.ready.add(conn);
    this.processRx();
  }

  finished(conn: Connection, rst: boolean): void {
    if (this.conns.get(conn.key) !== conn) return;
    this.conns.delete(conn.key);
    const users = this.portsInUse.get(conn.localPort)! - 1;
    if (users === 0) this.portsInUse.delete(conn.localPort); else this.portsInUse.set(conn.localPort, users);
    this.ready.delete(conn);
    if (rst) this.queueReset(conn.localPort, conn.peerPort);
  }

  count(counter: VsockCounter, reason?: () => string): void {
    this.stats[counter]++;
    if (reason === undefined || this.logged.has(counter)) return;
    this.logged.add(counter);
    this.opts.log?.warn({ device: 'vsock', counter }, `vsock: ${reason()} (further ones are only counted)`);
  }

  private queueReset(localPort: number, peerPort: number): void {
    if (this.resets.length >= MAX_QUEUED_RESETS) {
      this.stats.resetsDropped++;
      return;
    }
    this.resets.push({
      srcCid: HOST_CID, dstCid: this.guestCid, srcPort: localPort, dstPort: peerPort, len: 0, type: TYPE_STREAM,
      op: OP.RST, flags: 0, bufAlloc: 0, fwdCnt: 0,
    });
    this.processRx();
  }

  // ---- the guest's packets ------------------------------------------------------------------------------------

  private processTx(): void {
    const turns = this.txTurns;
    turns.start();
    serveQueue(this.ctx, this.ctx?.queues[TX], this.countError, (q) => {
      let any = false;
      for (let chain = q.pop(); chain !== null; chain = turns.spent() ? null : q.pop()) {
        // The packet is handled (its payload copied out) before the chain goes back.
        this.txPacket(chain);
        if (this.ctx === undefined) return false; // the device failed meanwhile (a bad rx chain)
        q.pushUsed(chain.head, 0);
        any = true;
      }
      return any;
    });
  }

  private txPacket(chain: DescriptorChain): void {
    const p = readPacket(chain.readable, chain.readableBytes);
    if (p === null) throw new QueueError('E_LEN', `a tx chain of ${chain.readableBytes} bytes holds no vsock header`, chain.head);
    const h = p.hdr;
    this.stats.txPackets++;
    // A restored clone's guest switches to its new CID after the transport reset (restoreState).
    if (this.formerCid !== undefined && h.srcCid === this.guestCid) this.formerCid = undefined;
    const fromGuest = h.srcCid === this.guestCid || (this.formerCid !== undefined && h.srcCid === this.formerCid);
    if (!fromGuest || h.dstCid !== HOST_CID) {
      this.count('errors', () => `packet from cid ${h.srcCid} to cid ${h.dstCid} dropped (the guest is cid ${this.guestCid})`);
      return;
    }
    const conn = this.conns.get(connKey(h.dstPort, h.srcPort));
    const bad = h.type !== TYPE_STREAM ? `socket type ${h.type}`
      : h.len > MAX_PAYLOAD || h.len > p.restBytes ? `len ${h.len} with ${p.restBytes} bytes of buffers`
        : h.op !== OP.RW && h.len !== 0 ? `len ${h.len} on a packet with no payload` : undefined;
    if (bad !== undefined) {
      this.count('errors', () => `malformed packet ${h.srcPort}->${h.dstPort}: ${bad}`);
      if (conn !== undefined) conn.finish(true, false);
      else if (h.op !== OP.RST) this.queueReset(h.dstPort, h.srcPort);
      return;
    }
    if (h.op === OP.RW) this.stats.txBytes += h.len;
    if (conn !== undefined) conn.onPacket(h, p.rest);
    else if (h.op === OP.REQUEST) this.guestConnect(h);
    else if (h.op !== OP.RST) this.queueReset(h.dstPort, h.srcPort);
  }

  // ---- packets for the guest ----------------------------------------------------------------------------------

  /** Fills rx buffers while anything has a packet to send; safe to call from inside itself. */
  private processRx(): void {
    if (this.inRx) {
      this.rxAgain = true;
      return;
    }
    this.inRx = true;
    try {
      do {
        this.rxAgain = false;
        serveQueue(this.ctx, this.ctx?.queues[RX], this.countError, this.fillRxPass);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a nested processRx() sets it
      } while (this.rxAgain && this.ctx !== undefined);
    } finally {
      this.inRx = false;
    }
  }

  // Made once: processRx runs for every host chunk and every guest packet.
  private readonly countError = (): void => this.count('errors');
  private readonly fillRxPass = (q: Virtqueue): boolean => this.fillRx(q);

  private fillRx(q: Virtqueue): boolean {
    let any = false;
    while (this.resets.length > 0 || this.ready.size > 0) {
      const chain = this.heldRx ?? q.pop();
      this.heldRx = null;
      if (chain === null) break;
      if (chain.readableBytes > 0 || chain.writableBytes < HDR_SIZE) {
        throw new QueueError('E_LEN', `an rx chain needs ${HDR_SIZE}+ device-writable bytes and nothing else`, chain.head);
      }
      const pkt = this.nextPacket(chain.writableBytes - HDR_SIZE);
      if (pkt === null) {
        this.heldRx = chain;
        break;
      }
      const written = writePacket(chain.writable, pkt.hdr, pkt.payload);
      q.pushUsed(chain.head, written);
      this.stats.rxPackets++;
      this.stats.rxBytes += pkt.hdr.len;
      if (pkt.hdr.op === OP.RST) this.stats.resetsSent++;
      any = true;
    }
    return any;
  }

  /** Queued RSTs first, then one packet from the next connection in turn. */
  private nextPacket(room: number): OutPacket | null {
    const rst = this.resets.shift();
    if (rst !== undefined) return { hdr: rst, payload: [] };
    for (let tries = this.ready.size; tries > 0; tries--) {
      const conn: Connection = this.ready.values().next().value!;
      this.ready.delete(conn);
      const pkt = conn.nextPacket(room);
      if (conn.hasWork()) this.ready.add(conn);
      if (pkt !== null) return pkt;
    }
    return null;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------------

  /** Every connection goes with the driver; the listener stays for the next one. */
  reset(): void {
    this.txTurns.cancel();
    this.ctx = undefined;
    this.formerCid = undefined;
    for (const conn of this.conns.values()) conn.destroy();
    for (const s of this.sockets) s.destroy();
    this.conns.clear();
    this.sockets.clear();
    this.portsInUse.clear();
    this.ready.clear();
    this.resets = [];
    this.heldRx = null;
    // A driver that starts anew has no connections to be told about.
    this.transportResetDue = false;
  }

  close(): void {
    this.reset();
    this.backend.close();
  }

  counters(): Record<string, number> {
    return { connectionsOpen: this.conns.size, ...this.stats };
  }
}
