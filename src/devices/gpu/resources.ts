// The 2D resources of one gpu device: each a host copy of the guest's image (width x height x 4 bytes, zeroed at
// creation) and, once attached, its backing (backing.ts): the guest's pages the image is copied from. The host
// copies are the guest's to spend, so they are capped per device: a count and a total of bytes.
import type { Backing } from './backing';
import { BYTES_PER_PIXEL } from './protocol';

/** Defaults of the caps on one device's host copies. */
export const MAX_RESOURCES = 1024;
export const MAX_HOST_BYTES = 256 * 1024 * 1024;
/** Neither side of a resource may pass this (16384 x 16384 would be 1 GiB: the byte cap refuses it anyway). */
export const MAX_RESOURCE_SIDE = 16384;
export class Resource {
  backing: Backing | undefined;
  /** The host copy, in the resource's own format, rows of width * 4 bytes. */
  readonly pixels: Uint8Array;

  constructor(readonly id: number, readonly format: number, readonly width: number, readonly height: number) {
    this.pixels = new Uint8Array(new ArrayBuffer(width * height * BYTES_PER_PIXEL));
  }

  get stride(): number { return this.width * BYTES_PER_PIXEL; }
  get bytes(): number { return this.pixels.length; }
}

export interface ResourceCaps {
  /** At most this many resources at once (default MAX_RESOURCES). */
  maxResources?: number;
  /** At most this many bytes of host copies at once (default MAX_HOST_BYTES). */
  maxHostBytes?: number;
}

export type CreateResult = Resource | 'exists' | 'out-of-memory';

export class ResourceTable {
  private readonly byId = new Map<number, Resource>();
  private hostBytes = 0;
  readonly maxResources: number;
  readonly maxHostBytes: number;

  constructor(caps: ResourceCaps = {}) {
    this.maxResources = caps.maxResources ?? MAX_RESOURCES;
    this.maxHostBytes = caps.maxHostBytes ?? MAX_HOST_BYTES;
  }

  get(id: number): Resource | undefined { return this.byId.get(id); }

  /** Every resource, in the order they were made. */
  all(): IterableIterator<Resource> { return this.byId.values(); }

  /** A new resource (its sides already checked), unless the ID is taken or a cap would be passed. */
  create(id: number, format: number, width: number, height: number): CreateResult {
    if (this.byId.has(id)) return 'exists';
    const bytes = width * height * BYTES_PER_PIXEL;
    if (this.byId.size >= this.maxResources || this.hostBytes + bytes > this.maxHostBytes) return 'out-of-memory';
    let r: Resource;
    try {
      r = new Resource(id, format, width, height);
    } catch (e) {
      if (e instanceof RangeError) return 'out-of-memory'; // the host itself could not give the bytes
      throw e;
    }
    this.byId.set(id, r);
    this.hostBytes += bytes;
    return r;
  }

  delete(id: number): boolean {
    const r = this.byId.get(id);
    if (r === undefined) return false;
    this.byId.delete(id);
    this.hostBytes -= r.bytes;
    return true;
  }

  clear(): void {
    this.byId.clear();
    this.hostBytes = 0;
  }

  get count(): number { return this.byId.size; }
  get bytes(): number { return this.hostBytes; }
}
