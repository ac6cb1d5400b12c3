// Guest physical memory as seen from TypeScript: one ArrayBuffer per RAM region (external buffers over the
// memfd mapping at run time, plain ArrayBuffers in unit tests). Every access is translated and bounds-checked
// here; an address the guest made up never reaches host memory outside these buffers. Devices reach it through
// DmaMemory: guest-physical RAM itself, or, for a device behind the virtio-iommu, its I/O virtual address space.

export class GuestMemoryError extends Error {
  readonly code = 'EGUESTADDR';
  constructor(readonly gpa: bigint, readonly length: number) {
    super(`guest address range 0x${gpa.toString(16)}+${length} is not guest RAM`);
    this.name = 'GuestMemoryError';
  }
}

export interface GuestRegion {
  /** Guest physical address of the first byte. */
  readonly gpa: number;
  readonly buffer: ArrayBuffer;
}

/** The device reads the bytes (a device-readable buffer, the descriptor table, the driver area). */
export const DMA_READ = 1;
/** The device writes the bytes (a device-writable buffer, the device area). */
export const DMA_WRITE = 2;

export interface DmaMemory {
  /**
   * A view of `length` bytes at device address `addr` that the device may access as `access` says (DMA_READ,
   * DMA_WRITE or both), or null when it may not: the range is not RAM, not mapped, or mapped without that right.
   */
  tryBytes(addr: number | bigint, length: number, access: number): Uint8Array | null;
  /**
   * Like tryBytes, for a buffer that may be contiguous only in the device's address space: behind the IOMMU, pages
   * next to each other in I/O virtual space can be anywhere in RAM, so a buffer is appended to `out` as one view per
   * physically contiguous run, in order (nothing is allocated for the common one-run case). False, with nothing
   * appended, when any part may not be accessed.
   */
  pushSegments(addr: number | bigint, length: number, access: number, out: Uint8Array[]): boolean;
  /**
   * Changes whenever a view handed out earlier may have stopped being valid (an IOMMU mapping went away): whoever
   * keeps views across requests (the rings) takes them again when it changes. Guest-physical memory never changes.
   */
  readonly generation: number;
  /** The guest-physical RAM behind it, for what a device is given as physical addresses (balloon page numbers). */
  readonly ram: GuestMemory;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class GuestMemory implements DmaMemory {
  readonly regions: readonly GuestRegion[];
  private closed = false;

  constructor(regions: GuestRegion[]) {
    this.regions = [...regions].sort((a, b) => a.gpa - b.gpa);
    for (let i = 1; i < this.regions.length; i++) {
      const prev = this.regions[i - 1]!;
      if (prev.gpa + prev.buffer.byteLength > this.regions[i]!.gpa) throw new RangeError('guest RAM regions overlap');
    }
  }

  /** Total bytes of guest RAM (0 once closed). */
  get size(): number {
    return this.regions.reduce((n, r) => n + r.buffer.byteLength, 0);
  }

  /**
   * A view of `length` bytes at `gpa`, or null when the range is not wholly inside one RAM region.
   * The range must not straddle two regions: the split around the 32-bit MMIO gap is never contiguous.
   */
  tryBytes(gpa: number | bigint, length: number, _access?: number): Uint8Array | null {
    const r = this.find(gpa, length);
    return r === undefined ? null : new Uint8Array(r.buffer, Number(gpa) - r.gpa, length);
  }

  /**
   * Marks the memory gone; its owner unmaps (and detaches) the buffers. From then on every access throws TypeError:
   * a device still running after its machine ended is a bug to hear about, not a bad guest address.
   */
  close(): void {
    this.closed = true;
  }

  get isClosed(): boolean { return this.closed; }

  /** Physical addresses mean the same thing for as long as the machine runs: views never go stale. */
  get generation(): number { return 0; }

  get ram(): this { return this; }

  /** Guest-physical RAM is contiguous inside a region: one view, as tryBytes. */
  pushSegments(gpa: number | bigint, length: number, _access: number, out: Uint8Array[]): boolean {
    const b = this.tryBytes(gpa, length);
    if (b === null) return false;
    out.push(b);
    return true;
  }

  /** The region holding all of [gpa, gpa + length), without making a view (checks on hot paths need none). */
  private find(gpa: number | bigint, length: number): GuestRegion | undefined {
    if (this.closed) throw new TypeError('guest memory is closed: its machine has ended');
    if (!Number.isInteger(length) || length < 0) return undefined;
    let addr: number;
    if (typeof gpa === 'bigint') {
      if (gpa < 0n || gpa > MAX_SAFE) return undefined;
      addr = Number(gpa);
    } else {
      if (!Number.isSafeInteger(gpa) || gpa < 0) return undefined;
      addr = gpa;
    }
    for (const r of this.regions) {
      const off = addr - r.gpa;
      if (off < 0) return undefined;
      if (off + length <= r.buffer.byteLength) return r;
      if (off < r.buffer.byteLength) return undefined;
    }
    return undefined;
  }

  /** Like tryBytes, but a bad range throws GuestMemoryError. */
  bytes(gpa: number | bigint, length: number): Uint8Array {
    const b = this.tryBytes(gpa, length);
    if (b === null) throw new GuestMemoryError(BigInt(gpa), length);
    return b;
  }

  /** True when [gpa, gpa+length) is guest RAM within one region. */
  contains(gpa: number | bigint, length: number): boolean {
    return this.find(gpa, length) !== undefined;
  }

  view(gpa: number | bigint, length: number): DataView {
    const b = this.bytes(gpa, length);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  read(gpa: number | bigint, length: number): Uint8Array {
    return this.bytes(gpa, length).slice();
  }

  write(gpa: number | bigint, data: Uint8Array): void {
    this.bytes(gpa, data.length).set(data);
  }

  fill(gpa: number | bigint, length: number, value = 0): void {
    this.bytes(gpa, length).fill(value);
  }

  readU8(gpa: number | bigint): number { return this.view(gpa, 1).getUint8(0); }
  readU16(gpa: number | bigint): number { return this.view(gpa, 2).getUint16(0, true); }
  readU32(gpa: number | bigint): number { return this.view(gpa, 4).getUint32(0, true); }
  readU64(gpa: number | bigint): bigint { return this.view(gpa, 8).getBigUint64(0, true); }
  writeU8(gpa: number | bigint, v: number): void { this.view(gpa, 1).setUint8(0, v); }
  writeU16(gpa: number | bigint, v: number): void { this.view(gpa, 2).setUint16(0, v, true); }
  writeU32(gpa: number | bigint, v: number): void { this.view(gpa, 4).setUint32(0, v, true); }
  writeU64(gpa: number | bigint, v: bigint): void { this.view(gpa, 8).setBigUint64(0, v, true); }

  /** Guest memory for unit tests: plain ArrayBuffers laid out like the real machine. */
  static forTest(layout: { gpa: number; size: number }[]): GuestMemory {
    return new GuestMemory(layout.map((l) => ({ gpa: l.gpa, buffer: new ArrayBuffer(l.size) })));
  }
}
