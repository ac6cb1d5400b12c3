// Devices as `tsvmm run` options, in the manner of Cloud Hypervisor: `--disk path=a.img,readonly`, `--net tap=tap0`,
// `--fs tag=share,path=dir`, `--vsock cid=3,socket=v.sock`, `--rng`, `--balloon targetMiB=64`. Each becomes the
// mapping the same device has in the YAML file and is appended to the config's devices, so the config's own
// validation applies; its errors name the option (`--disk.path`, `--disk[1].path` when there are several) instead
// of devices[N]. Paths start at the current directory, like every path given as an option.
import * as path from 'node:path';
import type { Options } from 'yargs';
import { ConfigError, isMapping, show, type Raw } from '../vmm/config-check';

type ValueKind = 'string' | 'path' | 'bool' | 'number';

interface DeviceFlag {
  type: string;
  /** The keys whose values are not plain strings (or are paths); any other key goes to validation as a string. */
  keys: Readonly<Record<string, ValueKind>>;
  /** Whether the option may come without settings (`--rng` alone), so the next word is not taken as them. */
  bare: boolean;
  /** Whether a machine may have more than one. */
  many: boolean;
  describe: string;
}

export const DEVICE_FLAGS: Readonly<Record<string, DeviceFlag>> = {
  disk: {
    type: 'blk', bare: false, many: true,
    keys: { path: 'path', readonly: 'bool', cache: 'string', serial: 'string', create: 'bool', size: 'number' },
    describe: 'a disk: path=FILE[,readonly][,cache=unsafe|writeback][,serial=ID][,create,size=SIZE]',
  },
  net: {
    type: 'net', bare: true, many: true, keys: { tap: 'string', mac: 'string' },
    describe: 'a network device on a tap: [tap=NAME][,mac=MAC] (no tap: a new tsvmmN)',
  },
  fs: {
    type: 'fs', bare: false, many: true, keys: { tag: 'string', path: 'path', readonly: 'bool' },
    describe: 'a shared folder: tag=TAG,path=DIR[,readonly] (in the guest: mount -t virtiofs TAG /mnt)',
  },
  vsock: {
    type: 'vsock', bare: false, many: false, keys: { cid: 'number', socket: 'path' },
    describe: 'vsock: cid=CID,socket=PATH (host side: unix sockets PATH and PATH_PORT)',
  },
  rng: {
    type: 'rng', bare: true, many: true, keys: { rateLimit: 'number' },
    describe: 'entropy for the guest: [rateLimit=BYTES/s]',
  },
  input: {
    type: 'input', bare: false, many: true, keys: { kind: 'string' },
    describe: 'a keyboard or tablet the host types into: kind=keyboard|tablet',
  },
  balloon: {
    type: 'balloon', bare: true, many: false,
    keys: { targetMiB: 'number', deflateOnOom: 'bool', statsInterval: 'number' },
    describe: 'a memory balloon: [targetMiB=N][,deflateOnOom][,statsInterval=SECONDS]',
  },
};

/** The yargs options: strings, repeatable (a repeated option arrives as a list). */
export const DEVICE_OPTIONS: Readonly<Record<string, Options>> = Object.fromEntries(Object.entries(DEVICE_FLAGS)
  .map(([name, f]) => [name, {
    type: 'string', describe: f.many ? `${f.describe}; repeatable` : f.describe, group: 'Devices:',
  }]));

export const DEVICE_OPTIONS_HELP = 'Device options add devices after the config file\'s, in the order given, e.g. ' +
  '--disk path=root.img --disk path=data.img,readonly --net tap=tap0 --rng. Settings are key=value pairs separated ' +
  'by commas (a value cannot hold a comma); a key alone means true; the keys are the config file\'s ' +
  '(configs/example.yaml), checked the same way. Errors name the option: --disk.path, or --disk[1].path when there ' +
  'are several.';

/** One device option as given: its name and its settings text. */
export interface DeviceArg {
  flag: string;
  text: string;
}

/**
 * `--rng` or `--net` followed by a word that is not its settings (`tsvmm run --rng vm.yaml`) becomes `--rng=`, so
 * the parser does not take the config file for them. Settings start with one of the option's keys.
 */
export function separateBareDeviceFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [...out, ...argv.slice(i)];
    const flag = a.startsWith('--') ? DEVICE_FLAGS[a.slice(2)] : undefined;
    const next = argv[i + 1];
    const settings = next !== undefined && Object.keys(flag?.keys ?? {}).includes(next.split(/[=,]/)[0]!);
    out.push(flag?.bare && !settings ? `${a}=` : a);
  }
  return out;
}

/**
 * The device options in command-line order, from the parsed values and the order they appear in `argv`; without
 * argv, all disks, then all nets, and so on.
 */
export function deviceArgs(args: Record<string, unknown>, argv?: readonly string[]): DeviceArg[] {
  const values = new Map(Object.keys(DEVICE_FLAGS).map((f) => {
    const v = args[f];
    return [f, (v === undefined ? [] : Array.isArray(v) ? v : [v]).map((x) => (x === true ? '' : String(x)))];
  }));
  const out: DeviceArg[] = [];
  const order = argv ?? [...values].flatMap(([f, list]) => list.map(() => `--${f}`));
  for (const a of order) {
    if (a === '--') break;
    const name = /^--([a-z]+)(=|$)/.exec(a)?.[1];
    const text = name === undefined ? undefined : values.get(name)?.shift();
    if (text !== undefined) out.push({ flag: name!, text });
  }
  return out;
}

function parseValue(field: string, kind: ValueKind | undefined, value: string | undefined, cwd: string): unknown {
  if (kind === 'bool' || (kind === undefined && value === undefined)) {
    if (value === undefined || /^(on|true|yes)$/i.test(value)) return true;
    if (/^(off|false|no)$/i.test(value)) return false;
    return value; // validation says it is not a boolean
  }
  if (value === undefined) throw new ConfigError(field, 'needs a value (key=value)');
  if (kind === 'number') return /^[0-9]+$/.test(value) ? Number(value) : value;
  if (kind === 'path') return value === '' ? value : path.resolve(cwd, value);
  return value;
}

/** `key=value,flag,...` as the YAML mapping of the device; `field` names the option in errors. */
export function parseDeviceArg(arg: DeviceArg, field: string, cwd: string): Raw {
  const spec = DEVICE_FLAGS[arg.flag]!;
  const raw: Raw = { type: spec.type };
  for (const item of arg.text.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    if (key === 'type') throw new ConfigError(`${field}.type`, `the option --${arg.flag} sets it (${spec.type})`);
    if (key in raw) throw new ConfigError(`${field}.${key}`, 'given twice');
    raw[key] = parseValue(`${field}.${key}`, spec.keys[key], value, cwd);
  }
  return raw;
}

/** The name each device option gets in errors: --disk, or --disk[1] when there are several. */
function fieldNames(args: readonly DeviceArg[]): string[] {
  const seen = new Map<string, number>();
  const total = new Map<string, number>();
  for (const a of args) total.set(a.flag, (total.get(a.flag) ?? 0) + 1);
  return args.map((a) => {
    const n = seen.get(a.flag) ?? 0;
    seen.set(a.flag, n + 1);
    return total.get(a.flag) === 1 ? `--${a.flag}` : `--${a.flag}[${n}]`;
  });
}

export interface WithDevices {
  raw: unknown;
  /** Turns a validation error about an added device into one naming its option; others pass unchanged. */
  rename(e: unknown): unknown;
}

/** Appends the devices given as options to the raw config's devices. Throws ConfigError naming the option. */
export function addDeviceArgs(raw: unknown, args: readonly DeviceArg[], cwd: string): WithDevices {
  if (args.length === 0 || !isMapping(raw)) return { raw, rename: (e) => e };
  const names = fieldNames(args);
  const added = args.map((a, i) => parseDeviceArg(a, names[i]!, cwd));
  const existing = raw.devices;
  if (existing !== undefined && existing !== null && !Array.isArray(existing)) {
    throw new ConfigError('devices', `${show(existing)} is not a list (the device options add to it)`);
  }
  const listed: readonly unknown[] = existing ?? [];
  const first = listed.length;
  const rename = (e: unknown): unknown => {
    if (!(e instanceof ConfigError)) return e;
    const swap = (text: string): string => text.replace(/devices\[(\d+)\]/g,
      (whole, n: string) => (Number(n) >= first ? names[Number(n) - first] ?? whole : whole));
    const field = swap(e.field);
    return field === e.field ? e : new ConfigError(field, swap(e.message.slice(e.field.length + 2)));
  };
  return { raw: { ...raw, devices: [...listed, ...added] }, rename };
}
