// virtio-blk (device type 2) over a raw image file. Data moves between the file and guest memory with preadv /
// pwritev on the chain's own buffers (fs.readv / fs.writev run them on libuv's thread pool): no copy through JS,
// nothing blocking on the main thread, and as many requests in flight as the guest queues.
import * as fs from 'node:fs';
import type { BlkDeviceConfig } from '../vmm/config';
import { native } from '../vmm/native';
import type { DeviceContext, VirtioDevice } from '../virtio-mmio/device';
import { QueueError, type DescriptorChain, type Virtqueue } from '../virtio-mmio/queue';
import { gather, sliceSegments, totalBytes as total } from '../virtio-mmio/segments';

const SECTOR = 512;
const T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;
const S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
const F = { SEG_MAX: 2n, RO: 5n, FLUSH: 9n, DISCARD: 13n, WRITE_ZEROES: 14n } as const;
const SEG_MAX = 126;
const MAX_RANGE_SECTORS = 0x3fffff;

export class BlkDevice implements VirtioDevice {
  readonly deviceType = 2;
  readonly queueMaxSizes = [256];
  readonly features: bigint;
  private readonly fd: number;
  private readonly capacity: number;
  private ctx: DeviceContext | undefined;
  /** Bumped on reset, so a request that completes after one never touches the new queue. */
  private epoch = 0;
  private readonly stats = { requests: 0, readBytes: 0, writtenBytes: 0, errors: 0, inFlight: 0 };

  constructor(private readonly cfg: BlkDeviceConfig) {
    if (cfg.create && !fs.existsSync(cfg.path)) fs.writeFileSync(cfg.path, '');
    this.fd = fs.openSync(cfg.path, cfg.readonly ? 'r' : 'r+');
    if (cfg.create && cfg.size !== undefined && fs.fstatSync(this.fd).size === 0) fs.ftruncateSync(this.fd, cfg.size);
    this.capacity = Math.floor(fs.fstatSync(this.fd).size / SECTOR);
    let f = (1n << F.SEG_MAX) | (1n << F.FLUSH);
    f |= cfg.readonly ? 1n << F.RO : (1n << F.DISCARD) | (1n << F.WRITE_ZEROES);
    this.features = f;
  }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(60);
    c.writeBigUInt64LE(BigInt(this.capacity), 0);
    c.writeUInt32LE(SEG_MAX, 12);
    c.writeUInt32LE(SECTOR, 20);
    c.writeUInt32LE(MAX_RANGE_SECTORS, 36); // max_discard_sectors
    c.writeUInt32LE(1, 40); // max_discard_seg
    c.writeUInt32LE(1, 44); // discard_sector_alignment
    c.writeUInt32LE(MAX_RANGE_SECTORS, 48); // max_write_zeroes_sectors
    c.writeUInt32LE(1, 52); // max_write_zeroes_seg
    c.writeUInt8(1, 56); // write_zeroes_may_unmap
    return c;
  }

  activate(ctx: DeviceContext): void { this.ctx = ctx; }

  onQueueNotify(_queue: number): void {
    const ctx = this.ctx;
    const q = ctx?.queues[0];
    if (ctx === undefined || q === undefined) return;
    try {
      for (let chain = q.pop(); chain !== null; chain = q.pop()) this.start(ctx, q, chain);
    } catch (e) {
      if (!(e instanceof QueueError)) throw e;
      this.stats.errors++;
      ctx.fail(e.message);
    }
  }

  private start(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): void {
    const last = chain.writable.at(-1);
    const header = gather(chain.readable, 16);
    if (last === undefined || last.length === 0 || header === undefined) {
      throw new QueueError('E_LEN', 'a blk request needs a 16-byte header and a status byte', chain.head);
    }
    const status = last.subarray(last.length - 1);
    const data = [...chain.writable.slice(0, -1), last.subarray(0, last.length - 1)].filter((b) => b.length > 0);
    const type = header.readUInt32LE(0);
    const sector = header.readBigUInt64LE(8);
    const epoch = this.epoch;
    this.stats.requests++;
    this.stats.inFlight++;
    const done = (st: number, written: number): void => {
      this.stats.inFlight--;
      if (st !== S.OK) this.stats.errors++;
      if (epoch !== this.epoch || this.ctx !== ctx) return;
      status[0] = st;
      q.pushUsed(chain.head, written + 1);
      ctx.notifyUsed(q);
    };
    this.execute(type, sector, chain, data).then(([st, n]) => done(st, n), () => done(S.IOERR, 0));
  }

  private async execute(type: number, sector: bigint, chain: DescriptorChain, data: Uint8Array[]): Promise<[number, number]> {
    switch (type) {
      case T.IN: {
        const pos = this.range(sector, total(data));
        if (pos === undefined) return [S.IOERR, 0];
        const n = data.length ? await readv(this.fd, data, pos) : 0;
        this.stats.readBytes += n;
        return [S.OK, n];
      }
      case T.OUT: {
        const bufs = sliceSegments(chain.readable, 16);
        const pos = this.range(sector, total(bufs));
        if (this.cfg.readonly || pos === undefined) return [S.IOERR, 0];
        const n = bufs.length ? await writev(this.fd, bufs, pos) : 0;
        this.stats.writtenBytes += n;
        return [S.OK, 0];
      }
      case T.FLUSH:
        if (this.cfg.cache === 'writeback' && !this.cfg.readonly) await fdatasync(this.fd);
        return [S.OK, 0];
      case T.GET_ID: {
        const id = Buffer.alloc(20);
        id.write(this.cfg.serial ?? '', 'ascii');
        let n = 0;
        for (const b of data) { const k = Math.min(b.length, 20 - n); b.set(id.subarray(n, n + k)); n += k; }
        return [S.OK, n];
      }
      case T.DISCARD:
      case T.WRITE_ZEROES:
        return [this.ranges(type, sliceSegments(chain.readable, 16)), 0];
      default:
        return [S.UNSUPP, 0];
    }
  }

  /** Byte offset of `sector` when [sector, +bytes) lies inside the disk. */
  private range(sector: bigint, bytes: number): number | undefined {
    if (bytes % SECTOR !== 0 || sector > BigInt(this.capacity)) return undefined;
    const s = Number(sector);
    return s + bytes / SECTOR <= this.capacity ? s * SECTOR : undefined;
  }

  private ranges(type: number, segs: Uint8Array[]): number {
    if (this.cfg.readonly) return S.IOERR;
    const body = gather(segs, total(segs));
    if (body === undefined || body.length === 0 || body.length % 16 !== 0) return S.UNSUPP;
    const c = native().constants;
    for (let off = 0; off < body.length; off += 16) {
      const sector = body.readBigUInt64LE(off);
      const count = body.readUInt32LE(off + 8);
      const unmap = (body.readUInt32LE(off + 12) & 1) !== 0;
      const pos = this.range(sector, count * SECTOR);
      if (pos === undefined || count > MAX_RANGE_SECTORS) return S.IOERR;
      const mode = type === T.DISCARD || unmap ? c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE : c.FALLOC_FL_ZERO_RANGE;
      try { native().fallocate(this.fd, mode, pos, count * SECTOR); } catch { return S.IOERR; }
    }
    return S.OK;
  }

  reset(): void {
    this.epoch++;
    this.ctx = undefined;
  }

  close(): void {
    this.reset();
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}

const readv = (fd: number, bufs: Uint8Array[], pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.readv(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));
const writev = (fd: number, bufs: Uint8Array[], pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.writev(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));
const fdatasync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
