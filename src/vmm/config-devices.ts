// The `devices:` list of a machine config, once its shape is checked (config-schema.ts): paths resolved and checked
// on this host, sizes in bytes, the rules between one entry's fields, and what must not be used twice.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkPath, checkSocketPath, ConfigError, join, show } from './config-check';
import { DEVICE_TYPES, FS_TAG_MAX_BYTES, type DeviceConfigInput } from './config-schema';
import { sizeField } from './config-size';
import type { BlkOptions } from '../devices/blk';
import { DEFAULT_MAX_SESSIONS } from '../devices/crypto/sessions';
import type { FsOptions } from '../devices/fs/device';
import { GPU_DEFAULT_HEIGHT, GPU_DEFAULT_WIDTH } from '../devices/gpu/device';
import type { InputKind } from '../devices/input';
import type { RateLimiterConfig } from '../devices/rate-limiter';
import type { ScsiDiskOptions } from '../devices/scsi/disk';

export { DEVICE_TYPES };
export type DeviceType = (typeof DEVICE_TYPES)[number];

export interface RngDeviceConfig {
  type: 'rng';
  /** Bytes per second the guest may take; absent means unlimited. */
  rateLimit?: number;
}

export interface ConsoleDeviceConfig {
  type: 'console';
  backend: 'stdio' | 'file' | 'socket';
  /** Absolute; set for the file (output is appended) and socket (a unix socket the VMM listens on) backends. */
  path?: string;
}

/** A disk as the config gives it: the device's own options (path absolute, size in bytes) and its type. */
export interface BlkDeviceConfig extends BlkOptions {
  type: 'blk';
}

export interface NetDeviceConfig {
  type: 'net';
  /** Host tap interface name (at most 15 characters, IFNAMSIZ - 1). */
  tap?: string;
  /** Guest MAC address, lower case `aa:bb:cc:dd:ee:ff`. */
  mac?: string;
  /** Caps on what the guest receives. */
  rxRateLimiter?: RateLimiterConfig;
  /** Caps on what the guest sends. */
  txRateLimiter?: RateLimiterConfig;
}

export interface VsockDeviceConfig {
  type: 'vsock';
  /** The guest's context id (3 and up; 0..2 are reserved for the hypervisor, local and host). */
  cid: number;
  /** Absolute path of the host-side unix socket. */
  socket: string;
}

export interface BalloonDeviceConfig {
  type: 'balloon';
  /** How much memory the balloon should take from the guest at start, in MiB. */
  targetMiB: number;
  deflateOnOom: boolean;
  /** Seconds between statistics requests; 0 disables them. */
  statsInterval: number;
}

/** A shared folder as the config gives it: the device's own options (path absolute) and its type. */
export interface FsDeviceConfig extends FsOptions {
  type: 'fs';
}

export interface InputDeviceConfig {
  type: 'input';
  kind: InputKind;
}

/** A display; the device's own options (each scanout's size, how many) and its type. */
export interface GpuDeviceConfig {
  type: 'gpu';
  width: number;
  height: number;
  scanouts: number;
}

/** A SCSI adapter as the config gives it: its disks, one target each (paths absolute, sizes in bytes). */
export interface ScsiDeviceConfig {
  type: 'scsi';
  disks: ScsiDiskOptions[];
}

/** A crypto accelerator: how many sessions its driver may hold. */
export interface CryptoDeviceConfig {
  type: 'crypto';
  maxSessions: number;
}

/** A sound card: where its playback frames go and its capture frames come from (paths absolute). */
export interface SndDeviceConfig {
  type: 'snd';
  playback: { backend: 'discard' } | { backend: 'wav'; path: string };
  capture: { backend: 'silence' } | { backend: 'wav'; path: string };
}

/** The machine's virtio-iommu; the devices behind it say `iommu: true`. */
export interface IommuDeviceConfig {
  type: 'iommu';
}

/** Any device but the IOMMU itself may sit behind the IOMMU; its endpoint ID is its index in `devices`. */
export interface BehindIommu {
  iommu?: boolean;
}

export type DeviceConfig = (
  | RngDeviceConfig | ConsoleDeviceConfig | BlkDeviceConfig | NetDeviceConfig
  | VsockDeviceConfig | BalloonDeviceConfig | FsDeviceConfig | InputDeviceConfig | IommuDeviceConfig
  | GpuDeviceConfig
  | ScsiDeviceConfig | CryptoDeviceConfig | SndDeviceConfig) & BehindIommu;

type Input<T extends DeviceType> = Extract<DeviceConfigInput, { type: T }>;
type Builders = { [T in DeviceType]: (field: string, d: Input<T>, baseDir: string) => DeviceConfig };

const builders: Builders = {
  rng: (_field, d) => (d.rateLimit === undefined ? { type: 'rng' } : { type: 'rng', rateLimit: d.rateLimit }),
  console: (field, d, baseDir) => {
    const backend = d.backend ?? 'stdio';
    const pathField = join(field, 'path');
    if (backend === 'stdio') {
      if (d.path !== undefined) throw new ConfigError(pathField, 'only the file and socket backends take a path');
      return { type: 'console', backend };
    }
    if (d.path === undefined) throw new ConfigError(pathField, `required for backend ${backend}`);
    const p = backend === 'file'
      ? checkPath(pathField, d.path, baseDir, 'new-file')
      : checkSocketPath(pathField, d.path, baseDir);
    return { type: 'console', backend, path: p };
  },
  blk: buildBlk,
  net: (field, d) => {
    const dev: NetDeviceConfig = { type: 'net' };
    if (d.tap !== undefined) dev.tap = d.tap;
    if (d.mac !== undefined) dev.mac = checkUnicast(join(field, 'mac'), d.mac);
    if (d.rxRateLimiter !== undefined) dev.rxRateLimiter = copyLimiter(d.rxRateLimiter);
    if (d.txRateLimiter !== undefined) dev.txRateLimiter = copyLimiter(d.txRateLimiter);
    return dev;
  },
  vsock: (field, d, baseDir) => ({
    type: 'vsock',
    cid: d.cid,
    // Guest connections to host port P go to `<socket>_P`: the longest P must fit too.
    socket: checkSocketPath(join(field, 'socket'), d.socket, baseDir, '_4294967295'),
  }),
  balloon: (_field, d) => ({
    type: 'balloon',
    targetMiB: d.targetMiB ?? 0,
    deflateOnOom: d.deflateOnOom ?? false,
    statsInterval: d.statsInterval ?? 0,
  }),
  input: (_field, d) => ({ type: 'input', kind: d.kind }),
  iommu: () => ({ type: 'iommu' }),
  gpu: (_field, d) => ({
    type: 'gpu', width: d.width ?? GPU_DEFAULT_WIDTH, height: d.height ?? GPU_DEFAULT_HEIGHT, scanouts: d.scanouts ?? 1,
  }),
  scsi: buildScsi,
  crypto: (_field, d) => ({ type: 'crypto', maxSessions: d.maxSessions ?? DEFAULT_MAX_SESSIONS }),
  snd: (field, d, baseDir) => ({
    type: 'snd',
    playback: sndBackend(join(field, 'playback'), d.playback ?? { backend: 'discard' }, 'discard', baseDir),
    capture: sndBackend(join(field, 'capture'), d.capture ?? { backend: 'silence' }, 'silence', baseDir),
  }),
  fs: (field, d, baseDir) => {
    const bytes = Buffer.byteLength(d.tag);
    if (bytes > FS_TAG_MAX_BYTES) {
      throw new ConfigError(join(field, 'tag'), `${show(d.tag)} is ${bytes} bytes; at most ${FS_TAG_MAX_BYTES} allowed`);
    }
    return {
      type: 'fs', tag: d.tag, path: checkPath(join(field, 'path'), d.path, baseDir, 'dir'), readonly: d.readonly ?? false,
    };
  },
};

function buildBlk(field: string, d: Input<'blk'>, baseDir: string): BlkDeviceConfig {
  const dev: BlkDeviceConfig = { type: 'blk', ...diskImage(field, d, baseDir), cache: d.cache ?? 'writeback' };
  if (d.serial !== undefined) dev.serial = d.serial;
  if (d.rateLimiter !== undefined) dev.rateLimiter = copyLimiter(d.rateLimiter);
  return dev;
}

interface DiskImageInput {
  path: string;
  readonly?: boolean;
  create?: boolean;
  size?: string | number;
}

/** A disk image's fields (blk, and each of a scsi adapter's disks): the path, readonly, and create with its size. */
function diskImage(field: string, d: DiskImageInput, baseDir: string):
  { path: string; readonly: boolean; create: boolean; size?: number } {
  const create = d.create ?? false;
  const readonly = d.readonly ?? false;
  const image: { path: string; readonly: boolean; create: boolean; size?: number } = { path: '', readonly, create };
  if (d.size !== undefined) {
    if (!create) throw new ConfigError(join(field, 'size'), 'only used with create: true');
    image.size = sizeField(join(field, 'size'), d.size, 'M');
    if (image.size === 0 || image.size % 512 !== 0) {
      throw new ConfigError(join(field, 'size'), `${show(d.size)} is not a positive multiple of 512 bytes`);
    }
  }
  const pathField = join(field, 'path');
  if (create) {
    if (readonly) throw new ConfigError(join(field, 'create'), 'a disk created empty cannot be readonly');
    image.path = checkPath(pathField, d.path, baseDir, 'new-regular');
    if (image.size === undefined && !fs.existsSync(image.path)) {
      throw new ConfigError(join(field, 'size'), 'required with create: true when the image does not exist');
    }
  } else {
    image.path = checkPath(pathField, d.path, baseDir, 'file');
  }
  return image;
}

/**
 * A sound stream's backend: `plain` (discard or silence) takes no path; wav needs one, a file to create for
 * playback, an existing one for capture.
 */
function sndBackend<P extends 'discard' | 'silence'>(field: string, d: { backend: P | 'wav'; path?: string },
  plain: P, baseDir: string): { backend: P } | { backend: 'wav'; path: string } {
  const pathField = join(field, 'path');
  if (d.backend !== 'wav') {
    if (d.path !== undefined) throw new ConfigError(pathField, `only the wav backend takes a path`);
    return { backend: plain };
  }
  if (d.path === undefined) throw new ConfigError(pathField, 'required for backend wav');
  return { backend: 'wav', path: checkPath(pathField, d.path, baseDir, plain === 'discard' ? 'new-regular' : 'file') };
}

/** A scsi adapter's disks; serials name disks in the guest (/dev/disk/by-id), so two on one adapter differ. */
function buildScsi(field: string, d: Input<'scsi'>, baseDir: string): ScsiDeviceConfig {
  const serials = new Map<string, number>();
  const disks = d.disks.map((disk, i) => {
    const diskField = `${join(field, 'disks')}[${i}]`;
    const out: ScsiDiskOptions = diskImage(diskField, disk, baseDir);
    if (disk.serial !== undefined) {
      const first = serials.get(disk.serial);
      if (first !== undefined) {
        throw new ConfigError(join(diskField, 'serial'), `${show(disk.serial)} is already the serial of disks[${first}]`);
      }
      serials.set(disk.serial, i);
      out.serial = disk.serial;
    }
    return out;
  });
  return { type: 'scsi', disks };
}

/** The schema checked every number; a copy, so the machine's config does not share objects with its input. */
function copyLimiter(l: RateLimiterConfig): RateLimiterConfig {
  const copy: RateLimiterConfig = {};
  if (l.bandwidth) copy.bandwidth = { ...l.bandwidth };
  if (l.ops) copy.ops = { ...l.ops };
  return copy;
}

/** The schema checked the form; a multicast address would be refused by the guest's driver. */
function checkUnicast(field: string, mac: string): string {
  if (parseInt(mac.slice(0, 2), 16) & 1) {
    throw new ConfigError(field, `${show(mac)} is a multicast address (the first byte must be even)`);
  }
  return mac.toLowerCase();
}

/** Builds the checked `devices` list; `field` is its path (normally `devices`). */
export function buildDevices(field: string, inputs: readonly DeviceConfigInput[] | null | undefined,
  baseDir: string): DeviceConfig[] {
  const devices = (inputs ?? []).map((d, i) => {
    const build = builders[d.type] as (field: string, d: DeviceConfigInput, baseDir: string) => DeviceConfig;
    const dev = build(`${field}[${i}]`, d, baseDir);
    if ('iommu' in d && d.iommu === true) dev.iommu = true;
    return dev;
  });
  checkUnique(field, devices);
  checkIommu(field, devices);
  return devices;
}

/** Devices behind an IOMMU need one to be there; the IOMMU cannot sit behind itself. */
function checkIommu(field: string, devices: DeviceConfig[]): void {
  const iommu = devices.findIndex((d) => d.type === 'iommu');
  devices.forEach((d, i) => {
    if (d.iommu !== true) return;
    if (d.type === 'iommu') throw new ConfigError(`${field}[${i}].iommu`, 'the iommu device cannot sit behind itself');
    if (iommu < 0) throw new ConfigError(`${field}[${i}].iommu`, 'the machine has no iommu device (add { type: iommu })');
  });
}

/**
 * One vsock, one balloon, one iommu, one gpu and one crypto per machine (the gpu's caps on host memory and the
 * crypto device's on sessions are per machine); fs tags, disk images and tap devices are not shared twice.
 */
function checkUnique(field: string, devices: DeviceConfig[]): void {
  /** Where each key was first used: the field an error names as the other one. */
  const seen = new Map<string, string>();
  devices.forEach((dev, i) => {
    const keys: [key: string, why: string, within?: string][] = [];
    if (dev.type === 'vsock' || dev.type === 'balloon' || dev.type === 'iommu' || dev.type === 'gpu' ||
      dev.type === 'crypto') {
      keys.push([dev.type, `a second ${dev.type} device`]);
    }
    if (dev.type === 'fs') keys.push([`fs:${dev.tag}`, `fs tag ${show(dev.tag)} is already used`]);
    if (dev.type === 'blk') keys.push([`blk:${path.resolve(dev.path)}`, `${dev.path} is already attached`]);
    if (dev.type === 'scsi') {
      dev.disks.forEach((d, j) => keys.push([`blk:${path.resolve(d.path)}`, `${d.path} is already attached`, `.disks[${j}].path`]));
    }
    if (dev.type === 'snd' && dev.playback.backend === 'wav') {
      keys.push([`wav:${path.resolve(dev.playback.path)}`, `${dev.playback.path} is already recorded into`, '.playback.path']);
    }
    if (dev.type === 'net' && dev.tap) keys.push([`tap:${dev.tap}`, `tap ${show(dev.tap)} is already used`]);
    if (dev.type === 'net' && dev.mac) keys.push([`mac:${dev.mac}`, `MAC ${dev.mac} is already used`]);
    for (const [key, why, within = ''] of keys) {
      const first = seen.get(key);
      if (first !== undefined) throw new ConfigError(`${field}[${i}]${within}`, `${why} (see ${first})`);
      seen.set(key, `${field}[${i}]${within}`);
    }
  });
}
