// Each device the fuzzer drives, as the transport would carry it: which queues it has, which of them take the
// guest's requests, and what the start of a plausible request looks like (so cases get past the first check and
// into the parsing behind it). Devices are made once per property and reset between cases, as a driver would.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BalloonDevice } from '../../src/devices/balloon';
import { BlkDevice } from '../../src/devices/blk';
import { ConsoleDevice } from '../../src/devices/console';
import { CryptoDevice } from '../../src/devices/crypto/device';
import { CIPHER, OPCODE as CRYPTO_OP } from '../../src/devices/crypto/protocol';
import { SndDevice } from '../../src/devices/snd/device';
import { FsDevice } from '../../src/devices/fs/device';
import { GpuDevice } from '../../src/devices/gpu/device';
import { CMD as GPU_CMD, FLAG_FENCE } from '../../src/devices/gpu/protocol';
import { OP as FUSE_OP } from '../../src/devices/fs/protocol';
import { RngDevice } from '../../src/devices/rng';
import { OP as SCSI_OP } from '../../src/devices/scsi/constants';
import { ScsiDevice } from '../../src/devices/scsi/device';
import { HDR_SIZE, OP as VSOCK_OP } from '../../src/devices/vsock/packet';
import { VsockDevice } from '../../src/devices/vsock/device';
import type { VirtioDevice } from '../../src/virtio-mmio/device';
import type { GuestMemory } from '../../src/base/guest-memory';
import type { Rand } from './prng';

export interface Rig {
  dev: VirtioDevice;
  features: bigint;
  /** The queues that carry the guest's requests (each is fuzzed; the others are set up and left empty). */
  targets: number[];
  /** The first bytes of a plausible request. */
  header(r: Rand): Buffer;
  /** Ranges the device asked to give back to the host; each must lie in one RAM region. */
  readonly discards: [number, number][];
  close(): Promise<void>;
}

const scratch = (name: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `tsvmm-fuzz-${name}-`));
const none = (): Buffer => Buffer.alloc(0);

function rig(dev: VirtioDevice, targets: number[], header: (r: Rand) => Buffer, features = dev.features,
  cleanup: () => void = () => undefined, discards: [number, number][] = []): Rig {
  return {
    dev, features, targets, header, discards,
    close: async () => {
      dev.reset();
      await dev.quiesce?.();
      dev.close?.();
      cleanup();
    },
  };
}

function pfnList(r: Rand, mem: GuestMemory): Buffer {
  const pages = mem.regions.map((g) => [g.gpa / 4096, g.buffer.byteLength / 4096] as const);
  const n = r.chance(0.1) ? r.range(250, 300) : r.int(16);
  const b = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) {
    const [first, count] = r.pick(pages);
    const pfn = r.chance(0.8) ? first + r.int(count + 2) - 1 : r.edgy();
    b.writeUInt32LE(Math.max(0, pfn) >>> 0, 4 * i);
  }
  return b;
}

function blkHeader(r: Rand): Buffer {
  const b = Buffer.alloc(r.chance(0.3) ? 32 : 16);
  b.writeUInt32LE(r.chance(0.9) ? r.pick([0, 1, 4, 8, 11, 13]) : r.u32(), 0);
  b.writeBigUInt64LE(BigInt(r.edgy()), 8);
  // A discard or write-zeroes range after the header, when the chain carries it in the same buffer.
  if (b.length === 32) {
    b.writeBigUInt64LE(BigInt(r.edgy()), 16);
    b.writeUInt32LE(r.edgy() >>> 0, 24);
    b.writeUInt32LE(r.int(4), 28);
  }
  return b;
}

function vsockHeader(r: Rand, cid: number): Buffer {
  const b = Buffer.alloc(HDR_SIZE);
  b.writeBigUInt64LE(r.chance(0.9) ? BigInt(cid) : BigInt(r.edgy()), 0);
  b.writeBigUInt64LE(r.chance(0.9) ? 2n : BigInt(r.edgy()), 8);
  b.writeUInt32LE(r.int(4), 16);
  b.writeUInt32LE(r.int(4), 20);
  b.writeUInt32LE(r.chance(0.7) ? r.int(64) : r.edgy() >>> 0, 24);
  b.writeUInt16LE(r.chance(0.9) ? 1 : r.int(4), 28);
  b.writeUInt16LE(r.chance(0.9) ? r.pick(Object.values(VSOCK_OP)) : r.int(0x10000), 30);
  b.writeUInt32LE(r.int(4), 32);
  b.writeUInt32LE(r.edgy() >>> 0, 36);
  b.writeUInt32LE(r.edgy() >>> 0, 40);
  return b;
}

function fuseHeader(r: Rand): Buffer {
  const args = r.bytes(r.chance(0.5) ? r.int(96) : r.int(8));
  if (args.length > 0 && r.chance(0.5)) args[args.length - 1] = 0; // a name's terminator
  const b = Buffer.alloc(40);
  b.writeUInt32LE(r.chance(0.8) ? 40 + args.length : r.edgy() >>> 0, 0);
  b.writeUInt32LE(r.chance(0.9) ? r.pick(Object.values(FUSE_OP)) : r.u32(), 4);
  b.writeBigUInt64LE(BigInt(r.u32()), 8);
  b.writeBigUInt64LE(r.chance(0.7) ? BigInt(r.int(4)) : BigInt(r.edgy()), 16);
  b.writeUInt32LE(r.int(2), 24);
  b.writeUInt32LE(r.int(2), 28);
  return Buffer.concat([b, args]);
}

/** A gpu request: a command's header, then u32 fields (IDs, rectangles, formats, counts) near their edges. */
function gpuRequest(r: Rand, mem: GuestMemory): Buffer {
  const b = Buffer.alloc(24 + 4 * r.int(12));
  b.writeUInt32LE(r.chance(0.9) ? r.pick(Object.values(GPU_CMD)) : r.u32(), 0);
  b.writeUInt32LE(r.chance(0.5) ? FLAG_FENCE : r.int(4), 4);
  b.writeBigUInt64LE(BigInt(r.edgy()), 8);
  b.writeUInt32LE(r.int(3), 16);
  for (let at = 24; at < b.length; at += 4) {
    // Some fields are guest addresses, so a backing entry now and then lands in RAM.
    const v = r.chance(0.2) ? r.pick(mem.regions).gpa + r.int(0x1000) : r.chance(0.5) ? r.int(8) : r.edgy();
    b.writeUInt32LE(v >>> 0, at);
  }
  return b;
}

/** A virtio-scsi command request (the default 32-byte CDB), or a control request for the control queue. */
function scsiHeader(r: Rand): Buffer {
  const lun = [r.chance(0.9) ? 1 : r.int(256), r.chance(0.9) ? r.int(2) : r.int(256), r.chance(0.9) ? 0x40 : r.int(256),
    r.chance(0.9) ? 0 : r.int(256), 0, 0, 0, r.chance(0.95) ? 0 : r.int(256)];
  if (r.chance(0.3)) {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(r.chance(0.9) ? r.int(3) : r.u32(), 0);
    const tmf = b.readUInt32LE(0) === 0;
    if (tmf) b.writeUInt32LE(r.chance(0.9) ? r.int(8) : r.u32(), 4);
    Buffer.from(lun).copy(b, tmf ? 8 : 4);
    b.writeBigUInt64LE(BigInt(r.int(4)), 16);
    return b;
  }
  const b = Buffer.alloc(51);
  Buffer.from(lun).copy(b, 0);
  b.writeBigUInt64LE(BigInt(r.int(4)), 8);
  b[19] = r.chance(0.9) ? r.pick(Object.values(SCSI_OP)) : r.int(256);
  for (let i = 20; i < 36; i++) b[i] = r.chance(0.6) ? 0 : r.chance(0.5) ? r.int(4) : r.int(256);
  if (r.chance(0.5)) b.writeUInt32BE(r.int(160), 21); // an LBA near the disk
  return b;
}

/**
 * A crypto request: a control request (a session to create or destroy, its key after it) or a data request (a
 * cipher op with its lengths near their edges). Either may land on either queue.
 */
function cryptoRequest(r: Rand): Buffer {
  const b = Buffer.alloc(72);
  const small = (values: number[]): number => (r.chance(0.85) ? r.pick(values) : r.edgy() >>> 0);
  if (r.chance(0.5)) {
    b.writeUInt32LE(small([CRYPTO_OP.CIPHER_CREATE_SESSION, CRYPTO_OP.CIPHER_DESTROY_SESSION, CRYPTO_OP.HASH_CREATE_SESSION]), 0);
    b.writeUInt32LE(small(Object.values(CIPHER)), 16);
    const keyLength = small([16, 24, 32, 64]);
    b.writeUInt32LE(keyLength, 20);
    b.writeUInt32LE(small([1, 2]), 24);
    b.writeUInt32LE(small([1, 2]), 64);
    return Buffer.concat([b, r.bytes(Math.min(keyLength, 80))]);
  }
  b.writeUInt32LE(small([CRYPTO_OP.CIPHER_ENCRYPT, CRYPTO_OP.CIPHER_DECRYPT]), 0);
  b.writeBigUInt64LE(BigInt(r.int(4)), 8);
  b.writeUInt32LE(small([0, 16]), 24);
  const length = small([16, 32, 17, 4096]);
  b.writeUInt32LE(length, 28);
  b.writeUInt32LE(r.chance(0.8) ? length : r.edgy() >>> 0, 32);
  b.writeUInt32LE(small([1, 2]), 64);
  return Buffer.concat([b, r.bytes(r.int(64))]);
}

/** A snd control request (an info query, SET_PARAMS, a lifecycle command) or a transfer's stream ID and frames. */
function sndRequest(r: Rand): Buffer {
  const small = (values: number[]): number => (r.chance(0.85) ? r.pick(values) : r.edgy() >>> 0);
  const b = Buffer.alloc(r.pick([4, 8, 16, 24]));
  b.writeUInt32LE(small([1, 2, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x200, 0, 1, 0]), 0);
  if (b.length >= 8) b.writeUInt32LE(small([0, 1, 2]), 4);
  if (b.length >= 16) {
    b.writeUInt32LE(small([1, 2, 24, 32, 1920]), 8);
    b.writeUInt32LE(small([24, 32, 64, 1920]), 12);
  }
  if (b.length >= 24) b.set([small([1, 2]), small([5, 17]), small([6, 7])], 20);
  return Buffer.concat([b, r.bytes(r.int(64))]);
}

export const RIGS: Record<string, (mem: GuestMemory) => Rig> = {
  gpu: (mem) => rig(new GpuDevice({ width: 640, height: 480, scanouts: 2 }), [0, 1], (r) => gpuRequest(r, mem)),
  rng: () => rig(new RngDevice(), [0], none),
  console: () => rig(new ConsoleDevice(() => undefined), [1], none),
  balloon: (mem) => {
    const discards: [number, number][] = [];
    const dev = new BalloonDevice({ targetMiB: 1, deflateOnOom: true, statsInterval: 0,
      discard: (gpa, len) => { discards.push([gpa, len]); } });
    return rig(dev, [0, 1], (r) => pfnList(r, mem), dev.features, undefined, discards);
  },
  blk: () => {
    const dir = scratch('blk');
    const file = path.join(dir, 'disk.img');
    fs.writeFileSync(file, Buffer.alloc(64 * 1024, 0xab));
    const dev = new BlkDevice({ path: file, readonly: false, cache: 'writeback', create: false });
    return rig(dev, [0], blkHeader, dev.features, () => fs.rmSync(dir, { recursive: true, force: true }));
  },
  scsi: () => {
    const dir = scratch('scsi');
    const files = [0, 1].map((i) => path.join(dir, `disk${i}.img`));
    for (const f of files) fs.writeFileSync(f, Buffer.alloc(64 * 1024, 0xab));
    const dev = new ScsiDevice({ disks: files.map((f, i) => ({ path: f, readonly: i === 1 })) });
    // The event queue holds its buffers for good, so only the control and request queues are fuzzed.
    return rig(dev, [0, 2], scsiHeader, dev.features, () => fs.rmSync(dir, { recursive: true, force: true }));
  },
  vsock: () => {
    const dir = scratch('vsock');
    const dev = new VsockDevice({ cid: 3, socket: path.join(dir, 'v.sock'), connectTimeoutMs: 200, shutdownTimeoutMs: 200 });
    return rig(dev, [1], (r) => vsockHeader(r, 3), dev.features, () => fs.rmSync(dir, { recursive: true, force: true }));
  },
  // Sessions go with each case's reset, so data requests reach the session check; control requests go deeper.
  crypto: () => rig(new CryptoDevice({ maxSessions: 4, maxSize: 8192 }), [0, 1], cryptoRequest),
  // Each case's reset leaves the streams without parameters, so transfers are answered at once, never held; the
  // event queue holds its buffers for good.
  snd: () => rig(new SndDevice(), [0, 2, 3], sndRequest),
  fs: () => {
    const dir = scratch('fs');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'file'), 'some bytes\n');
    const dev = new FsDevice({ tag: 'share0', path: dir, readonly: false });
    return rig(dev, [0, 1], fuseHeader, dev.features, () => fs.rmSync(dir, { recursive: true, force: true }));
  },
};
