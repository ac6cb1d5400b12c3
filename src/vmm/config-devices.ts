// The `devices:` list of a machine config: one validator per device type, each strict about its keys.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkBool, checkEnum, checkInt, checkMapping, checkPath, checkShortString, checkSize, checkSocketPath,
  checkString, ConfigError, isMapping, join, show, type Raw,
} from './config-check';

export const DEVICE_TYPES = ['rng', 'console', 'blk', 'net', 'vsock', 'balloon', 'fs'] as const;
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

export interface BlkDeviceConfig {
  type: 'blk';
  /** Absolute path of the disk image. */
  path: string;
  readonly: boolean;
  cache: 'unsafe' | 'writeback';
  /** The serial number the guest reads (VIRTIO_BLK_T_GET_ID), at most 20 ASCII bytes. */
  serial?: string;
  /** Create the image (sparse, `size` bytes) when it does not exist. */
  create: boolean;
  /** Bytes; required with create. */
  size?: number;
}

export interface NetDeviceConfig {
  type: 'net';
  /** Host tap interface name (at most 15 characters, IFNAMSIZ - 1). */
  tap?: string;
  /** Guest MAC address, lower case `aa:bb:cc:dd:ee:ff`. */
  mac?: string;
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

export interface FsDeviceConfig {
  type: 'fs';
  /** The mount tag the guest names (`mount -t virtiofs <tag> /mnt`), at most 36 bytes. */
  tag: string;
  /** Absolute path of the shared host directory. */
  path: string;
  readonly: boolean;
}

export type DeviceConfig =
  | RngDeviceConfig | ConsoleDeviceConfig | BlkDeviceConfig | NetDeviceConfig
  | VsockDeviceConfig | BalloonDeviceConfig | FsDeviceConfig;

type Validator = (field: string, raw: Raw, baseDir: string) => DeviceConfig;

const validators: { [K in DeviceType]: Validator } = {
  rng: (field, raw) => {
    checkMapping(field, raw, ['type', 'rateLimit']);
    const dev: RngDeviceConfig = { type: 'rng' };
    if (raw.rateLimit !== undefined) dev.rateLimit = checkInt(join(field, 'rateLimit'), raw.rateLimit, 1, 2 ** 32);
    return dev;
  },
  console: (field, raw, baseDir) => {
    checkMapping(field, raw, ['type', 'backend', 'path']);
    const backend = checkEnum(join(field, 'backend'), raw.backend ?? 'stdio', ['stdio', 'file', 'socket'] as const);
    const dev: ConsoleDeviceConfig = { type: 'console', backend };
    const pathField = join(field, 'path');
    if (backend === 'stdio') {
      if (raw.path !== undefined) throw new ConfigError(pathField, 'only the file and socket backends take a path');
    } else if (raw.path === undefined) {
      throw new ConfigError(pathField, `required for backend ${backend}`);
    } else {
      dev.path = backend === 'file'
        ? checkPath(pathField, raw.path, baseDir, 'new-file')
        : checkSocketPath(pathField, raw.path, baseDir);
    }
    return dev;
  },
  blk: validateBlk,
  net: (field, raw) => {
    checkMapping(field, raw, ['type', 'tap', 'mac']);
    const dev: NetDeviceConfig = { type: 'net' };
    if (raw.tap !== undefined) {
      const tap = checkShortString(join(field, 'tap'), raw.tap, 15, true);
      if (/[\s/:]/.test(tap)) throw new ConfigError(join(field, 'tap'), `${show(tap)} is not an interface name`);
      dev.tap = tap;
    }
    if (raw.mac !== undefined) dev.mac = checkMac(join(field, 'mac'), raw.mac);
    return dev;
  },
  vsock: (field, raw, baseDir) => {
    checkMapping(field, raw, ['type', 'cid', 'socket']);
    if (raw.cid === undefined) throw new ConfigError(join(field, 'cid'), 'required');
    if (raw.socket === undefined) throw new ConfigError(join(field, 'socket'), 'required');
    return {
      type: 'vsock',
      cid: checkInt(join(field, 'cid'), raw.cid, 3, 0xffff_fffe),
      // Guest connections to host port P go to `<socket>_P`: the longest P must fit too.
      socket: checkSocketPath(join(field, 'socket'), raw.socket, baseDir, '_4294967295'),
    };
  },
  balloon: (field, raw) => {
    checkMapping(field, raw, ['type', 'targetMiB', 'deflateOnOom', 'statsInterval']);
    return {
      type: 'balloon',
      targetMiB: checkInt(join(field, 'targetMiB'), raw.targetMiB ?? 0, 0, 64 * 1024),
      deflateOnOom: checkBool(join(field, 'deflateOnOom'), raw.deflateOnOom ?? false),
      statsInterval: checkInt(join(field, 'statsInterval'), raw.statsInterval ?? 0, 0, 86_400),
    };
  },
  fs: (field, raw, baseDir) => {
    checkMapping(field, raw, ['type', 'tag', 'path', 'readonly']);
    if (raw.tag === undefined) throw new ConfigError(join(field, 'tag'), 'required');
    if (raw.path === undefined) throw new ConfigError(join(field, 'path'), 'required');
    return {
      type: 'fs',
      tag: checkShortString(join(field, 'tag'), raw.tag, 36, false),
      path: checkPath(join(field, 'path'), raw.path, baseDir, 'dir'),
      readonly: checkBool(join(field, 'readonly'), raw.readonly ?? false),
    };
  },
};

function validateBlk(field: string, raw: Raw, baseDir: string): BlkDeviceConfig {
  checkMapping(field, raw, ['type', 'path', 'readonly', 'cache', 'serial', 'create', 'size']);
  const pathField = join(field, 'path');
  if (raw.path === undefined) throw new ConfigError(pathField, 'required');
  const create = checkBool(join(field, 'create'), raw.create ?? false);
  const readonly = checkBool(join(field, 'readonly'), raw.readonly ?? false);
  const dev: BlkDeviceConfig = {
    type: 'blk',
    path: '',
    readonly,
    cache: checkEnum(join(field, 'cache'), raw.cache ?? 'writeback', ['unsafe', 'writeback'] as const),
    create,
  };
  if (raw.size !== undefined) {
    if (!create) throw new ConfigError(join(field, 'size'), 'only used with create: true');
    dev.size = checkSize(join(field, 'size'), raw.size, 'M');
    if (dev.size === 0 || dev.size % 512 !== 0) {
      throw new ConfigError(join(field, 'size'), `${show(raw.size)} is not a positive multiple of 512 bytes`);
    }
  }
  if (create) {
    if (readonly) throw new ConfigError(join(field, 'create'), 'a disk created empty cannot be readonly');
    dev.path = checkPath(pathField, raw.path, baseDir, 'new-regular');
    if (dev.size === undefined && !fs.existsSync(dev.path)) {
      throw new ConfigError(join(field, 'size'), 'required with create: true when the image does not exist');
    }
  } else {
    dev.path = checkPath(pathField, raw.path, baseDir, 'file');
  }
  if (raw.serial !== undefined) dev.serial = checkShortString(join(field, 'serial'), raw.serial, 20, true);
  return dev;
}

const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function checkMac(field: string, value: unknown): string {
  const mac = checkString(field, value);
  if (!MAC_PATTERN.test(mac)) throw new ConfigError(field, `${show(mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  if (parseInt(mac.slice(0, 2), 16) & 1) {
    throw new ConfigError(field, `${show(mac)} is a multicast address (the first byte must be even)`);
  }
  return mac.toLowerCase();
}

/** Validates the `devices` list; `field` is its path (normally `devices`). */
export function validateDevices(field: string, value: unknown, baseDir: string): DeviceConfig[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(field, `${show(value)} is not a list`);
  const devices = value.map((raw: unknown, i) => {
    const at = `${field}[${i}]`;
    if (!isMapping(raw)) throw new ConfigError(at, `${show(raw)} is not a mapping (type: ..., ...)`);
    if (raw.type === undefined) throw new ConfigError(join(at, 'type'), `required (one of ${DEVICE_TYPES.join(', ')})`);
    const type = checkEnum(join(at, 'type'), raw.type, DEVICE_TYPES);
    return validators[type](at, raw, baseDir);
  });
  checkUnique(field, devices);
  return devices;
}

/** One vsock and one balloon per machine; fs tags, disk images and tap devices are not shared twice. */
function checkUnique(field: string, devices: DeviceConfig[]): void {
  const seen = new Map<string, number>();
  devices.forEach((dev, i) => {
    const keys: [string, string][] = [];
    if (dev.type === 'vsock' || dev.type === 'balloon') keys.push([dev.type, `a second ${dev.type} device`]);
    if (dev.type === 'fs') keys.push([`fs:${dev.tag}`, `fs tag ${show(dev.tag)} is already used`]);
    if (dev.type === 'blk') keys.push([`blk:${path.resolve(dev.path)}`, `${dev.path} is already attached`]);
    if (dev.type === 'net' && dev.tap) keys.push([`tap:${dev.tap}`, `tap ${show(dev.tap)} is already used`]);
    if (dev.type === 'net' && dev.mac) keys.push([`mac:${dev.mac}`, `MAC ${dev.mac} is already used`]);
    for (const [key, why] of keys) {
      const first = seen.get(key);
      if (first !== undefined) throw new ConfigError(`${field}[${i}]`, `${why} (see ${field}[${first}])`);
      seen.set(key, i);
    }
  });
}
