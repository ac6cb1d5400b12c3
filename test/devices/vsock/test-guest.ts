// A guest for the vsock device made of three mock-driver queues in one memory, and the host programs' side made of
// real unix sockets in a temporary folder (HostEnd, test/helpers/vsock-host.ts). Packets the device puts in rx
// buffers land in `inbox`; buffers are posted again as a driver would.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VsockDevice, type VsockOptions } from '../../../src/devices/vsock/device';
import { HDR_SIZE, OP, TYPE_STREAM, type VsockHeader } from '../../../src/devices/vsock/packet';
import { HostEnd } from '../../helpers/vsock-host';
import { until } from '../../helpers/wait';
import { F_NEXT, F_WRITE, MockDriver, mockContext, type MockContext } from '../../virtio-mmio/mock-driver';

export interface Pkt extends VsockHeader { payload: Buffer }

const RX_BUFS = 0x100000;
const RX_STRIDE = 0x2000;
const TX_BUFS = 0x300000;
const TX_END = 0x1000000;
const QUEUE = 128;

export interface GuestOptions extends Partial<Omit<VsockOptions, 'socket'>> {
  /** Rx buffers posted at activation. Default 32. */
  rxBuffers?: number;
  /** Payload bytes per rx buffer. Default 4096. */
  rxBufSize?: number;
  /** Header and payload in separate descriptors, as Linux 6.1 posts them. */
  rxSplit?: boolean;
}

export class TestGuest {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-vsock-'));
  readonly socket = path.join(this.dir, 'v.sock');
  readonly cid: number;
  readonly dev: VsockDevice;
  readonly inbox: Pkt[] = [];
  readonly rx: MockDriver;
  readonly tx: MockDriver;
  /** Re-post each rx buffer as soon as its packet is read. */
  autoRepost = true;
  private ctx: MockContext | undefined;
  private rxRead = 0;
  private rxPosted = 0;
  /** Where the next tx packet goes; once the device has used every packet posted, the area starts afresh. */
  private txAt = TX_BUFS;
  private txPosted = 0;

  constructor(private readonly opts: GuestOptions = {}) {
    this.cid = opts.cid ?? 3;
    this.dev = new VsockDevice({ connectTimeoutMs: 500, shutdownTimeoutMs: 500, ...opts, cid: this.cid, socket: this.socket });
    this.rx = new MockDriver(QUEUE, TX_END);
    this.tx = new MockDriver(QUEUE, 0, { mem: this.rx.mem, base: 0x10000 });
  }

  get mem() { return this.rx.mem; }

  /** What the device gave up on, through its context's fail(). */
  get failures(): string[] { return this.ctx?.failures ?? []; }

  activate(): void {
    const ev = new MockDriver(16, 0, { mem: this.mem, base: 0x20000 });
    const rxq = this.rx.queue();
    this.ctx = mockContext(this.dev, { memory: this.mem, queues: [rxq, this.tx.queue(), ev.queue()], features: 1n,
      onUsed: (q) => { if (q === rxq) this.collect(); } });
    this.dev.activate(this.ctx);
    this.postRx(this.opts.rxBuffers ?? 32);
  }

  /** Posts `n` fresh rx buffers and kicks the device. */
  postRx(n: number): void {
    for (let i = 0; i < n; i++) this.post(RX_BUFS + RX_STRIDE * this.rxPosted++);
    this.dev.onQueueNotify(0);
  }

  private post(addr: number): void {
    const size = this.opts.rxBufSize ?? 4096;
    if (this.opts.rxSplit) {
      this.rx.addChain([{ addr, len: HDR_SIZE, flags: F_WRITE }, { addr: addr + 0x100, len: size, flags: F_WRITE }]);
    } else {
      this.rx.addChain([{ addr, len: HDR_SIZE + size, flags: F_WRITE }]);
    }
  }

  private collect(): void {
    const reposts: number[] = [];
    while (this.rxRead !== this.rx.usedIdx()) {
      const { id, len } = this.rx.used(this.rxRead);
      this.rxRead = (this.rxRead + 1) & 0xffff;
      const bytes = this.chainBytes(id, len);
      const v = new DataView(bytes.buffer, bytes.byteOffset);
      this.inbox.push({
        srcCid: v.getBigUint64(0, true), dstCid: v.getBigUint64(8, true), srcPort: v.getUint32(16, true),
        dstPort: v.getUint32(20, true), len: v.getUint32(24, true), type: v.getUint16(28, true),
        op: v.getUint16(30, true), flags: v.getUint32(32, true), bufAlloc: v.getUint32(36, true),
        fwdCnt: v.getUint32(40, true), payload: bytes.subarray(HDR_SIZE),
      });
      if (len !== HDR_SIZE + v.getUint32(24, true)) throw new Error(`used len ${len} for a packet of ${v.getUint32(24, true)}`);
      reposts.push(this.mem.readU32(this.rx.descTable + 16 * id)); // the head descriptor's address (low half)
    }
    if (this.autoRepost && reposts.length > 0) {
      for (const a of reposts) this.post(a);
      setImmediate(() => this.dev.onQueueNotify(0));
    }
  }

  /** The `len` bytes the device wrote into chain `head`, gathered across its descriptors. */
  private chainBytes(head: number, len: number): Buffer {
    const parts: Buffer[] = [];
    let left = len;
    for (let i = head; left > 0;) {
      const at = this.rx.descTable + 16 * i;
      const n = Math.min(left, this.mem.readU32(at + 8));
      parts.push(Buffer.from(this.mem.read(this.mem.readU64(at), n)));
      left -= n;
      if (!(this.mem.readU16(at + 12) & F_NEXT)) break;
      i = this.mem.readU16(at + 14);
    }
    return Buffer.concat(parts);
  }

  /** Puts one packet on the tx queue (header and payload in separate descriptors) and kicks the device. */
  send(h: Partial<VsockHeader> & { op: number }, payload: Uint8Array = new Uint8Array(0)): void {
    this.queueTx(h, payload);
    this.kickTx();
  }

  kickTx(): void {
    this.dev.onQueueNotify(1);
  }

  /** Puts a packet on the tx queue without a kick (several go in one batch). */
  queueTx(h: Partial<VsockHeader> & { op: number }, payload: Uint8Array = new Uint8Array(0)): void {
    const full: VsockHeader = {
      srcCid: BigInt(this.cid), dstCid: 2n, srcPort: 0, dstPort: 0, len: payload.length, type: TYPE_STREAM, flags: 0,
      bufAlloc: 256 * 1024, fwdCnt: 0, ...h,
    };
    // The device may leave part of a batch for a later turn of the loop; those packets' buffers stay as written.
    if (this.txPosted === this.tx.usedIdx()) this.txAt = TX_BUFS;
    this.txPosted = (this.txPosted + 1) & 0xffff;
    const at = this.txAt;
    this.txAt += 0x100 + Math.ceil(payload.length / 0x100) * 0x100;
    if (this.txAt > TX_END) throw new Error('tx batch larger than the test memory');
    const v = this.mem.view(at, HDR_SIZE);
    v.setBigUint64(0, full.srcCid, true);
    v.setBigUint64(8, full.dstCid, true);
    v.setUint32(16, full.srcPort, true);
    v.setUint32(20, full.dstPort, true);
    v.setUint32(24, full.len, true);
    v.setUint16(28, full.type, true);
    v.setUint16(30, full.op, true);
    v.setUint32(32, full.flags, true);
    v.setUint32(36, full.bufAlloc, true);
    v.setUint32(40, full.fwdCnt, true);
    if (payload.length === 0) {
      this.tx.addChain([{ addr: at, len: HDR_SIZE, flags: 0 }]);
    } else {
      this.mem.write(at + 0x100, payload);
      this.tx.addChain([{ addr: at, len: HDR_SIZE, flags: 0 }, { addr: at + 0x100, len: payload.length, flags: 0 }]);
    }
  }

  /** Removes and returns the first packet in the inbox that matches, waiting for it when needed. */
  async next(match: (p: Pkt) => boolean, what: string, ms = 5000): Promise<Pkt> {
    let found: Pkt | undefined;
    await until(() => {
      const i = this.inbox.findIndex(match);
      if (i >= 0) found = this.inbox.splice(i, 1)[0];
      return found !== undefined;
    }, what, ms);
    return found!;
  }

  close(): void {
    this.dev.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Asks the guest for port `port` through the device's socket, answers the REQUEST, and returns both ends. */
export async function openFromHost(g: TestGuest, port: number): Promise<{ host: HostEnd; hostPort: number }> {
  const host = HostEnd.connectTo(g.socket, port);
  const req = await g.next((p) => p.op === OP.REQUEST && p.dstPort === port, `REQUEST for ${port}`);
  g.send({ op: OP.RESPONSE, srcPort: port, dstPort: req.srcPort });
  if (await host.handshake !== req.srcPort) throw new Error(`no OK ${req.srcPort} line at the host: ${host.text}`);
  return { host, hostPort: req.srcPort };
}
