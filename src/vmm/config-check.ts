// Checks of values the config schema (config-schema.ts) cannot judge, shared by the config, the command line and the
// control socket's bodies: paths on this host, and the one-line ConfigError that names the field. Each takes the
// field's dotted path, so that every error says which field was wrong and what value it held.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A config or command-line value that cannot be used. `field` is the dotted path, e.g. `devices[1].path`. Its
 * code is the same whether it is thrown in the process or arrives through the control socket.
 */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(readonly field: string, detail: string) {
    super(field ? `${field}: ${detail}` : detail);
    this.name = 'ConfigError';
  }
}

/** How a value is shown in an error: strings quoted, everything else as YAML would show it. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- numbers and booleans are left: YAML makes no functions
  return String(value);
}

export type Raw = Record<string, unknown>;

export function isMapping(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = above;
    }
  }
  return row[b.length]!;
}

/** What an unknown key's error adds: the known key it is closest to, or all of them. */
export function unknownKeyHint(key: string, known: readonly string[]): string {
  const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  return near ? `did you mean ${near}?` : `known keys: ${known.join(', ')}`;
}

/** Requires a mapping whose keys are all known: a misspelt key is an error, never silently ignored. */
export function checkMapping(field: string, value: unknown, known: readonly string[]): Raw {
  if (!isMapping(value)) throw new ConfigError(field, `${show(value)} is not a mapping (key: value)`);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    // An empty key would leave the error naming no field at all (at the root), or a field ending in a dot.
    throw new ConfigError(join(field, key === '' ? '""' : key), `unknown key (${unknownKeyHint(key, known)})`);
  }
  return value;
}

/** `a` + `b` -> `a.b`; the root has an empty path. */
export function join(field: string, key: string): string {
  return field ? `${field}.${key}` : key;
}

export function checkString(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new ConfigError(field, `${show(value)} is not a string`);
  if (value.includes('\0')) throw new ConfigError(field, `${show(value)} contains a NUL character`);
  return value;
}

export function checkEnum<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(field, `${show(value)} is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * What a path must be: an existing regular file, an existing directory, a new file whose directory exists, or
 * such a new file that, when it exists already, is a regular file (a disk image to create).
 */
export type PathKind = 'file' | 'dir' | 'new-file' | 'new-regular';

/** How an error names what is at a path that is not what it should be. */
export function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return st.isFile() ? 'a regular file' : 'not a file';
}

// Their files stat as regular but are kernel interfaces (/proc/self/mem is the VMM's own memory), not data.
const KERNEL_FS_MAGIC = new Map<number, string>([
  [0x9fa0, 'proc'], [0x62656572, 'sysfs'], [0x64626720, 'debugfs'], [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'], [0x62656570, 'configfs'], [0x27e0eb, 'cgroup'], [0x63677270, 'cgroup2'],
  [0xde5e81e4, 'efivarfs'], [0xcafe4a11, 'bpf'],
]);

/** Throws unless `resolved` (as the user wrote it: `written`) is a regular file holding data. */
function checkRegularFile(field: string, written: string, resolved: string, st: fs.Stats): void {
  if (st.isDirectory()) throw new ConfigError(field, `${written} is a directory, not a file`);
  if (!st.isFile()) throw new ConfigError(field, `${written} is ${fileKind(st)}, not a regular file`);
  let fsType: string | undefined;
  try {
    fsType = KERNEL_FS_MAGIC.get(fs.statfsSync(resolved).type);
  } catch {
    return; // gone since the stat: opening it will say so
  }
  if (fsType) throw new ConfigError(field, `${written} is on ${fsType}, a kernel interface, not a regular file`);
}

/**
 * Resolves a path (relative ones against baseDir) and checks it is what `kind` says. Errors show the path as
 * written, because that is what the user will look for in the config.
 */
export function checkPath(field: string, value: unknown, baseDir: string, kind: PathKind): string {
  const written = checkString(field, value);
  if (written === '') throw new ConfigError(field, 'empty path');
  const resolved = path.resolve(baseDir, written);
  if (kind === 'new-file' || kind === 'new-regular') {
    const dir = path.dirname(resolved);
    if (!isDirectory(dir)) throw new ConfigError(field, `directory not found: ${path.dirname(written)}`);
    if (isDirectory(resolved)) throw new ConfigError(field, `${written} is a directory`);
    const st = kind === 'new-regular' ? statOrUndefined(resolved) : undefined;
    if (st) checkRegularFile(field, written, resolved, st);
    return resolved;
  }
  const st = statOrUndefined(resolved);
  if (!st) throw new ConfigError(field, `${kind === 'dir' ? 'directory' : 'file'} not found: ${written}`);
  if (kind === 'file') checkRegularFile(field, written, resolved, st);
  if (kind === 'dir' && !st.isDirectory()) throw new ConfigError(field, `${written} is not a directory`);
  return resolved;
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** sun_path holds 108 bytes including the terminating NUL. */
export const UNIX_SOCKET_PATH_MAX = 107;

/**
 * A unix socket the VMM creates: its directory must exist and the absolute path must fit in sun_path, with room for
 * `suffix` (the VMM also uses the path plus that suffix as a socket path).
 */
export function checkSocketPath(field: string, value: unknown, baseDir: string, suffix?: string): string {
  const resolved = checkPath(field, value, baseDir, 'new-file');
  const bytes = Buffer.byteLength(resolved);
  if (bytes > UNIX_SOCKET_PATH_MAX) {
    throw new ConfigError(field, `${show(value)} is ${bytes} bytes once resolved; a unix socket path allows ` +
      `${UNIX_SOCKET_PATH_MAX}`);
  }
  if (suffix !== undefined && bytes + Buffer.byteLength(suffix) > UNIX_SOCKET_PATH_MAX) {
    throw new ConfigError(field, `${show(value)} is ${bytes} bytes once resolved; with the "${suffix}" it is also ` +
      `used with, that passes the ${UNIX_SOCKET_PATH_MAX} a unix socket path allows`);
  }
  return resolved;
}
