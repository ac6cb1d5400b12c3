// The snapshot folder (docs/snapshot.md): snapshot.json says what the other two files hold and how to check them,
// state.bin holds named sections (KVM's state blobs, the devices' state) back to back, memory.bin is guest RAM at
// its memfd offsets with holes where the guest never wrote. Reading checks everything it can before anything is
// built, and fails closed with a SnapshotError whose code and message say what is wrong.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, toConfigInput, validateConfig, type MachineConfig } from '../config';
import { packageVersion } from '../../version';

export const SNAPSHOT_FORMAT = 'tsvmm-snapshot';
export const SNAPSHOT_VERSION = 1;
export const MANIFEST_FILE = 'snapshot.json';
export const STATE_FILE = 'state.bin';
export const MEMORY_FILE = 'memory.bin';
const PAGE = 4096;

export type SnapshotErrorCode =
  | 'ERR_SNAPSHOT_FORMAT' | 'ERR_SNAPSHOT_VERSION' | 'ERR_SNAPSHOT_CHECKSUM' | 'ERR_SNAPSHOT_TRUNCATED'
  | 'ERR_SNAPSHOT_CONFIG' | 'ERR_SNAPSHOT_HOST' | 'ERR_SNAPSHOT_UNSUPPORTED' | 'ERR_SNAPSHOT_EXISTS';

export class SnapshotError extends Error {
  constructor(readonly code: SnapshotErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SnapshotError';
  }
}

export interface SectionEntry { name: string; offset: number; length: number; sha256: string }
/** A run of guest RAM that holds data: [memfd offset, length], page aligned. */
export type Extent = readonly [number, number];

export interface SnapshotManifest {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  tsvmm: string;
  createdAt: string;
  /** The machine's config in the config file's schema (validated again on restore). */
  config: unknown;
  state: { file: typeof STATE_FILE; bytes: number; sections: SectionEntry[] };
  memory: { file: typeof MEMORY_FILE; bytes: number; extents: Extent[]; sha256: string };
}

/** Guest RAM as a snapshot sees it: memfd offsets 0..bytes, the extents holding data, and views of them. */
export interface MemoryImage {
  bytes: number;
  extents: readonly Extent[];
  /** The bytes [offset, offset + length) of one extent (inside one RAM region). */
  view(offset: number, length: number): Uint8Array;
}

const fsync = promisify(fs.fsync);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The memory hash covers where each extent is as well as what it holds, so no extent can move or go. */
function extentHeader(offset: number, length: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(offset), 0);
  b.writeBigUInt64LE(BigInt(length), 8);
  return b;
}

/** What a snapshot holds, taken in one go: the state sections and guest RAM. */
export interface CapturedMachine {
  sections: ReadonlyMap<string, Uint8Array>;
  memory: MemoryImage;
}

export interface SnapshotSource {
  /** Resolves once nothing can write guest RAM on its own any more (device I/O in flight has ended). */
  settle?: () => Promise<void>;
  /** Takes the machine's state, right after settle() resolved. */
  capture: () => CapturedMachine;
}

/**
 * Writes a snapshot into `dir` (made when missing; it must not hold one already). Once the folder is ready the
 * source settles, and then its state is captured and written with guest RAM before anything else runs: no device
 * can write guest RAM (a vsock packet from the host, say) between taking the state and writing the RAM, so the two
 * agree. memory.bin is written extent by extent at its offsets and sized to the whole of RAM, so the file system
 * keeps the rest as holes; snapshot.json comes last, through a rename, so a folder without it is never taken for a
 * whole snapshot.
 */
export async function writeSnapshot(dir: string, config: MachineConfig, source: SnapshotSource):
  Promise<SnapshotManifest> {
  await fs.promises.mkdir(dir, { recursive: true });
  const manifestPath = path.join(dir, MANIFEST_FILE);
  if (fs.existsSync(manifestPath)) throw new SnapshotError('ERR_SNAPSHOT_EXISTS', `${dir} already holds a snapshot`);
  await source.settle?.();
  const stateFd = fs.openSync(path.join(dir, STATE_FILE), 'w');
  const memoryFd = fs.openSync(path.join(dir, MEMORY_FILE), 'w');
  let entries: SectionEntry[];
  let stateBytes: number;
  let memory: MemoryImage;
  let memoryHash: string;
  try {
    const captured = source.capture();
    ({ memory } = captured);
    ({ entries, bytes: stateBytes } = writeSections(stateFd, captured.sections));
    memoryHash = writeMemory(memoryFd, memory);
    await Promise.all([fsync(stateFd), fsync(memoryFd)]);
  } finally {
    fs.closeSync(stateFd);
    fs.closeSync(memoryFd);
  }
  const manifest: SnapshotManifest = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    tsvmm: packageVersion(),
    createdAt: new Date().toISOString(),
    config: toConfigInput(config),
    state: { file: STATE_FILE, bytes: stateBytes, sections: entries },
    memory: { file: MEMORY_FILE, bytes: memory.bytes, extents: memory.extents.map(([a, l]) => [a, l]), sha256: memoryHash },
  };
  const tmp = `${manifestPath}.tmp`;
  await fs.promises.writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await fs.promises.rename(tmp, manifestPath);
  return manifest;
}

function writeAll(fd: number, bytes: Uint8Array, at: number): void {
  for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done, at + done);
}

/** state.bin: the sections back to back; their entries for the manifest. */
function writeSections(fd: number, sections: ReadonlyMap<string, Uint8Array>): { entries: SectionEntry[]; bytes: number } {
  const entries: SectionEntry[] = [];
  let offset = 0;
  for (const [name, data] of sections) {
    entries.push({ name, offset, length: data.length, sha256: sha256(data) });
    writeAll(fd, data, offset);
    offset += data.length;
  }
  return { entries, bytes: offset };
}

/** memory.bin: each extent at its offset, the file as large as RAM; the memory hash. */
function writeMemory(fd: number, memory: MemoryImage): string {
  const hash = createHash('sha256');
  for (const [at, length] of memory.extents) {
    const bytes = memory.view(at, length);
    hash.update(extentHeader(at, length)).update(bytes);
    writeAll(fd, bytes, at);
  }
  fs.ftruncateSync(fd, memory.bytes);
  return hash.digest('hex');
}

/** A snapshot whose manifest, state and memory file size have been checked; memory is checked as it is loaded. */
export interface SnapshotImage {
  dir: string;
  manifest: SnapshotManifest;
  config: MachineConfig;
  sections: Map<string, Buffer>;
  /**
   * How guest RAM comes back: mapped from memory.bin copy-on-write (pages read as the guest touches them, shared
   * with other machines restored from the same file), or copied into a new machine's own RAM.
   */
  ram: 'copy-on-write' | 'copy';
}

const bad = (what: string): SnapshotError => new SnapshotError('ERR_SNAPSHOT_FORMAT', `${MANIFEST_FILE}: ${what}`);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
/** Parsed JSON before it is checked: any field may be anything. */
type Unchecked = Record<string, unknown>;
const isObject = (v: unknown): v is Unchecked => typeof v === 'object' && v !== null && !Array.isArray(v);

function readManifest(dir: string): SnapshotManifest {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (e) {
    throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `${dir} is not a snapshot: ${(e as Error).message}`, { cause: e });
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  if (!isObject(m) || m.format !== SNAPSHOT_FORMAT) throw bad(`format is not "${SNAPSHOT_FORMAT}"`);
  if (m.version !== SNAPSHOT_VERSION) {
    throw new SnapshotError('ERR_SNAPSHOT_VERSION', `${MANIFEST_FILE}: format version ${String(m.version)} ` +
      `(written by tsvmm ${String(m.tsvmm)}); this tsvmm reads version ${SNAPSHOT_VERSION}`);
  }
  checkStateEntry(m.state);
  checkMemoryEntry(m.memory);
  return m as unknown as SnapshotManifest;
}

function checkStateEntry(state: unknown): void {
  if (!isObject(state) || state.file !== STATE_FILE || !isCount(state.bytes) || !Array.isArray(state.sections)) {
    throw bad('state must be { file: "state.bin", bytes, sections }');
  }
  let next = 0;
  const names = new Set<string>();
  for (const [i, s] of (state.sections as unknown[]).entries()) {
    if (!isObject(s) || typeof s.name !== 'string' || !isCount(s.offset) || !isCount(s.length) || !isHash(s.sha256)) {
      throw bad(`state.sections[${i}] must be { name, offset, length, sha256 }`);
    }
    if (s.offset !== next || names.has(s.name)) throw bad(`state.sections[${i}] (${s.name}) overlaps or leaves a gap`);
    names.add(s.name);
    next += s.length;
  }
  if (next !== state.bytes) throw bad(`state.sections add up to ${next} bytes, state.bytes says ${state.bytes}`);
}

function checkMemoryEntry(memory: unknown): void {
  if (!isObject(memory) || memory.file !== MEMORY_FILE || !isCount(memory.bytes) || !Array.isArray(memory.extents) ||
    !isHash(memory.sha256)) {
    throw bad('memory must be { file: "memory.bin", bytes, extents, sha256 }');
  }
  const bytes = memory.bytes;
  let end = 0;
  for (const [i, e] of (memory.extents as unknown[]).entries()) {
    const run = Array.isArray(e) && e.length === 2 ? (e as unknown[]) : [];
    const [at, length] = run;
    const ok = isCount(at) && isCount(length) && length > 0 && at % PAGE === 0 && length % PAGE === 0 &&
      at >= end && at + length <= bytes;
    if (!ok) throw bad(`memory.extents[${i}] is not a page-aligned, ascending run inside ${bytes} bytes`);
    end = at + length;
  }
}

function checkConfig(m: SnapshotManifest, dir: string, edit: (config: unknown) => unknown): MachineConfig {
  let config: MachineConfig;
  try {
    config = validateConfig(edit(m.config), { baseDir: dir });
  } catch (e) {
    const what = e instanceof ConfigError ? `config.${e.message}` : `config: ${(e as Error).message}`;
    throw new SnapshotError('ERR_SNAPSHOT_CONFIG', `${MANIFEST_FILE}: ${what}`, { cause: e });
  }
  if (config.memory !== m.memory.bytes) {
    throw new SnapshotError('ERR_SNAPSHOT_CONFIG', `${MANIFEST_FILE}: config.memory is ${config.memory} bytes but ` +
      `memory.bin holds ${m.memory.bytes}`);
  }
  return config;
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (e) {
    throw new SnapshotError('ERR_SNAPSHOT_TRUNCATED', `${path.basename(file)} is missing: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Reads and checks a snapshot's manifest, config and state; memory.bin's size too (its bytes in loadMemory).
 * `editConfig` changes the config (in the config file's schema) before it is validated: what the restored machine
 * is to have in place of the old one's (a new socket path).
 */
export function readSnapshot(dir: string, editConfig: (config: unknown) => unknown = (c) => c): SnapshotImage {
  const manifest = readManifest(dir);
  const config = checkConfig(manifest, dir, editConfig);
  const statePath = path.join(dir, STATE_FILE);
  const stateSize = fileSize(statePath);
  if (stateSize !== manifest.state.bytes) {
    throw new SnapshotError('ERR_SNAPSHOT_TRUNCATED', `${STATE_FILE} is ${stateSize} bytes, expected ${manifest.state.bytes}`);
  }
  const memorySize = fileSize(path.join(dir, MEMORY_FILE));
  if (memorySize !== manifest.memory.bytes) {
    throw new SnapshotError('ERR_SNAPSHOT_TRUNCATED', `${MEMORY_FILE} is ${memorySize} bytes, expected ${manifest.memory.bytes}`);
  }
  const state = fs.readFileSync(statePath);
  const sections = new Map<string, Buffer>();
  for (const s of manifest.state.sections) {
    const data = state.subarray(s.offset, s.offset + s.length);
    if (sha256(data) !== s.sha256) {
      throw new SnapshotError('ERR_SNAPSHOT_CHECKSUM', `${STATE_FILE}: section ${s.name} does not match its sha256`);
    }
    sections.set(s.name, data);
  }
  return { dir, manifest, config, sections, ram: 'copy-on-write' };
}

/**
 * Copies memory.bin's extents into guest RAM (`target` gives the view of [offset, offset + length) to fill) and
 * checks them against the manifest's hash; throws ERR_SNAPSHOT_CHECKSUM when they differ, after which the RAM
 * filled so far must not run.
 */
export function loadMemory(image: SnapshotImage, target: (offset: number, length: number) => Uint8Array): void {
  const fd = fs.openSync(path.join(image.dir, MEMORY_FILE), 'r');
  try {
    checkMemoryFile(image, fd, target);
  } finally {
    fs.closeSync(fd);
  }
}

const CHECK_CHUNK = 1 << 20;

/**
 * Reads memory.bin's extents from `fd` and checks them against the manifest's hash: into guest RAM when `target`
 * is given, else through a small buffer (RAM mapped from the file itself is only checked, never written).
 */
export function checkMemoryFile(image: SnapshotImage, fd: number,
  target?: (offset: number, length: number) => Uint8Array): void {
  const hash = createHash('sha256');
  const scratch = target ? undefined : Buffer.allocUnsafe(CHECK_CHUNK);
  for (const [at, length] of image.manifest.memory.extents) {
    hash.update(extentHeader(at, length));
    const view = target?.(at, length);
    for (let done = 0; done < length;) {
      const want = Math.min(length - done, CHECK_CHUNK);
      const into = view ? view.subarray(done, done + want) : scratch!.subarray(0, want);
      for (let got = 0; got < want;) {
        const n = fs.readSync(fd, into, got, want - got, at + done + got);
        if (n === 0) throw new SnapshotError('ERR_SNAPSHOT_TRUNCATED', `${MEMORY_FILE} ends inside extent ${at}+${length}`);
        got += n;
      }
      hash.update(into);
      done += want;
    }
  }
  if (hash.digest('hex') !== image.manifest.memory.sha256) {
    throw new SnapshotError('ERR_SNAPSHOT_CHECKSUM', `${MEMORY_FILE} does not match its sha256`);
  }
}
