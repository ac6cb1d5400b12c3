// The gpu device in a snapshot: the display mode, the pending event bits, the cursor, every resource with its host
// copy (base64) and its backing's entries, and what each scanout shows. The host copies are the pixels the guest
// last transferred: a restored device shows the same screen before the guest draws again. Everything read back is
// checked as the commands that made it were, and a wrong field is named.
import { MAX_BACKING_ENTRIES } from './backing';
import type { Scanout } from './commands';
import type { CursorState } from './cursor';
import { FORMATS, rectInside, type Rect } from './protocol';
import { MAX_RESOURCE_SIDE, type Resource, type ResourceTable } from './resources';
import { savedInt, savedObject } from '../saved-state';

export interface SavedResource {
  id: number;
  format: number;
  width: number;
  height: number;
  pixels: string;
  backing: [number, number][] | null;
}

export interface SavedGpu {
  mode: { width: number; height: number };
  eventsRead: number;
  cursor: CursorState;
  resources: SavedResource[];
  scanouts: { resourceId: number; rect: Rect; flushes: number }[];
}

export interface GpuParts {
  mode: { width: number; height: number };
  eventsRead: number;
  cursor: CursorState;
  resources: ResourceTable;
  scanouts: Scanout[];
}

export function saveGpu(p: GpuParts): SavedGpu {
  return {
    mode: { ...p.mode },
    eventsRead: p.eventsRead,
    cursor: { ...p.cursor },
    resources: [...p.resources.all()].map((r) => ({ id: r.id, format: r.format, width: r.width, height: r.height,
      pixels: Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.byteLength).toString('base64'),
      backing: r.backing?.entries() ?? null })),
    scanouts: p.scanouts.map((sc) => ({ resourceId: sc.resource?.id ?? 0, rect: { ...sc.rect }, flushes: sc.flushes })),
  };
}

const obj = savedObject;
const int = savedInt;

function rect(name: string, v: unknown): Rect {
  const r = obj(v);
  const u32 = (k: keyof Rect): number => int(`${name}.${k}`, r[k], 0, 0xffff_ffff);
  return { x: u32('x'), y: u32('y'), width: u32('width'), height: u32('height') };
}

function backingEntries(name: string, v: unknown): [number, number][] | null {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length > MAX_BACKING_ENTRIES) {
    throw new RangeError(`${name} is not null or a list of at most ${MAX_BACKING_ENTRIES} entries`);
  }
  return v.map((e: unknown, i) => {
    const [addr, len] = Array.isArray(e) ? e as unknown[] : [];
    return [int(`${name}[${i}][0]`, addr, 0, Number.MAX_SAFE_INTEGER), int(`${name}[${i}][1]`, len, 0, 0xffff_ffff)];
  });
}

function loadResource(table: ResourceTable, v: unknown, i: number): { r: Resource; backing: [number, number][] | null } {
  const s = obj(v);
  const name = `resources[${i}]`;
  const id = int(`${name}.id`, s.id, 1, 0xffff_ffff);
  const format = int(`${name}.format`, s.format, 0, 0xffff_ffff);
  if (!FORMATS.has(format)) throw new RangeError(`${name}.format ${format} is not one this device takes`);
  const width = int(`${name}.width`, s.width, 1, MAX_RESOURCE_SIDE);
  const height = int(`${name}.height`, s.height, 1, MAX_RESOURCE_SIDE);
  const made = table.create(id, format, width, height);
  if (made === 'exists') throw new RangeError(`${name}.id ${id} is there twice`);
  if (made === 'out-of-memory') throw new RangeError(`${name} passes the device's caps on resources`);
  const pixels = typeof s.pixels === 'string' ? Buffer.from(s.pixels, 'base64') : undefined;
  if (pixels?.length !== made.bytes) {
    throw new RangeError(`${name}.pixels is not ${made.bytes} bytes of base64`);
  }
  made.pixels.set(pixels);
  return { r: made, backing: backingEntries(`${name}.backing`, s.backing) };
}

/**
 * Puts a saved gpu into an empty resource table and the device's scanouts; returns the rest for the device (the
 * backings wait for the guest's memory, which the device has only once it is activated).
 */
export function loadGpu(v: unknown, resources: ResourceTable, scanouts: Scanout[]):
  { mode: { width: number; height: number }; eventsRead: number; cursor: CursorState; backings: Map<Resource, [number, number][]> } {
  const s = obj(v);
  const mode = obj(s.mode);
  const eventsRead = int('eventsRead', s.eventsRead, 0, 0xffff_ffff);
  const saved = Array.isArray(s.resources) ? s.resources as unknown[] : undefined;
  if (saved === undefined) throw new RangeError('resources is not a list');
  const backings = new Map<Resource, [number, number][]>();
  saved.forEach((r, i) => {
    const { r: made, backing } = loadResource(resources, r, i);
    if (backing !== null) backings.set(made, backing);
  });
  const shown = Array.isArray(s.scanouts) ? s.scanouts as unknown[] : [];
  if (shown.length !== scanouts.length) throw new RangeError(`scanouts: ${shown.length} saved, the device has ${scanouts.length}`);
  shown.forEach((v2, i) => {
    const sc = obj(v2);
    const id = int(`scanouts[${i}].resourceId`, sc.resourceId, 0, 0xffff_ffff);
    const at = rect(`scanouts[${i}].rect`, sc.rect);
    const r = id === 0 ? undefined : resources.get(id);
    if (id !== 0 && (r === undefined || at.width === 0 || at.height === 0 || !rectInside(at, r.width, r.height))) {
      throw new RangeError(`scanouts[${i}] shows resource ${id} at a rect it does not have`);
    }
    scanouts[i] = { resource: r, rect: at, flushes: int(`scanouts[${i}].flushes`, sc.flushes, 0, Number.MAX_SAFE_INTEGER) };
  });
  const c = obj(s.cursor);
  const u32 = (k: keyof CursorState): number => int(`cursor.${k}`, c[k], 0, 0xffff_ffff);
  const cursor: CursorState = { scanout: int('cursor.scanout', c.scanout, 0, scanouts.length - 1), x: u32('x'), y: u32('y'),
    resourceId: u32('resourceId'), hotX: u32('hotX'), hotY: u32('hotY') };
  return { mode: { width: mode.width as number, height: mode.height as number }, eventsRead, cursor, backings };
}
