// A virtio-blk device over a scratch image, driven through the mock driver: requests are written as a guest would
// write them and awaited on the device's used-ring notification, never on a timer.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlkDevice, type BlkOptions } from '../../src/devices/blk';
import { F_WRITE, MockDriver, mockContext, type Desc } from '../virtio-mmio/mock-driver';

export const HDR = 0x10000;
export const DATA = 0x20000;
export const STATUS = 0x30000;
/** Where submit() puts the indirect table of a chain longer than the ring (up to 1024 descriptors). */
export const TABLE = 0x40000;
/** Where large data buffers go: past everything above. */
export const BIG = 0x100000;
export const T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;

export interface BlkSetup {
  /** Image size in bytes (default 64 KiB of 0xab). */
  disk?: number;
  /** Guest memory in bytes (default 1 MiB). */
  mem?: number;
  /** Use this existing image instead of making one. */
  file?: string;
  /** Make the image in this directory (default a fresh one under the temp dir). */
  dir?: string;
  /** Make the image sparse (ftruncate) instead of writing it. */
  sparse?: boolean;
  /** The rate limiter's clock. */
  now?: () => number;
}

export function setup(over: Partial<BlkOptions> = {}, withoutFeatures = 0n, o: BlkSetup = {}) {
  const own = o.file === undefined && o.dir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-blk-')) : undefined;
  const file = o.file ?? path.join(o.dir ?? own!, 'disk.img');
  const disk = o.disk ?? 64 * 1024;
  if (o.file === undefined) {
    if (o.sparse) {
      fs.writeFileSync(file, '');
      fs.truncateSync(file, disk);
    } else {
      fs.writeFileSync(file, Buffer.alloc(disk, 0xab));
    }
  }
  const dev = new BlkDevice({ path: file, readonly: false, cache: 'writeback', create: false, ...over }, o.now);
  const d = new MockDriver(16, o.mem ?? 1 << 20);
  const q = d.queue();
  let wake: (() => void) | undefined;
  const ctx = mockContext(dev, {
    memory: d.mem, queues: [q], features: dev.features & ~withoutFeatures,
    onUsed: () => { const w = wake; wake = undefined; w?.(); },
  });
  dev.activate(ctx);
  /** Makes `descs` available, notifies, and resolves with the status byte once the request is completed. */
  /** Chains longer than the ring carry the rest in an indirect table at TABLE. */
  const submit = (descs: Desc[], status = STATUS): Promise<number> => {
    d.mem.writeU8(status, 0xff);
    const used = new Promise<void>((resolve) => { wake = resolve; });
    d.addLongChain(descs, TABLE);
    dev.onQueueNotify(0);
    return used.then(() => d.mem.readU8(status));
  };
  const request = (type: number, sector: number, dataLen: number, write = true): Promise<number> => {
    header(type, sector);
    return submit([
      { addr: HDR, len: 16, flags: 0 },
      ...(dataLen ? [{ addr: DATA, len: dataLen, flags: write ? F_WRITE : 0 }] : []),
      { addr: STATUS, len: 1, flags: F_WRITE },
    ]);
  };
  const header = (type: number, sector: number): void => {
    d.mem.writeU32(HDR, type);
    d.mem.writeU64(HDR + 8, BigInt(sector));
  };
  const cleanup = (): void => {
    dev.close();
    if (own !== undefined) fs.rmSync(own, { recursive: true, force: true });
  };
  return { dev, d, file, header, submit, request, failures: ctx.failures, cleanup };
}

/** A request whose data is `count` buffers of `seg` bytes laid end to end from `at`, then the status byte. */
export function manyBuffers(at: number, count: number, seg: number, write: boolean): Desc[] {
  const data = Array.from({ length: count }, (_, i) => ({ addr: at + i * seg, len: seg, flags: write ? F_WRITE : 0 }));
  return [{ addr: HDR, len: 16, flags: 0 }, ...data, { addr: STATUS, len: 1, flags: F_WRITE }];
}

/** A byte pattern that differs from sector to sector, so data landing in the wrong place shows. */
export function pattern(bytes: number, seed = 0): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i + seed + (i >> 9) * 7) & 0xff;
  return b;
}
