// Address-range dispatch for port I/O and MMIO exits. Runs on each vCPU's worker thread, so a register access is
// answered where the exit lands; devices whose state the main thread also needs keep it in SharedArrayBuffers.

/** A device's register window. `data` is the exit's data buffer: fill it on read, take it on write. */
export interface BusDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

interface Range { base: number; length: number; device: BusDevice }

export class Bus {
  private ranges: Range[] = [];
  private lastHit: Range | undefined;

  insert(base: number, length: number, device: BusDevice): void {
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(length) || length <= 0) {
      throw new RangeError(`bad bus range 0x${base.toString(16)}+${length}`);
    }
    for (const r of this.ranges) {
      if (base < r.base + r.length && r.base < base + length) {
        throw new RangeError(`bus range 0x${base.toString(16)}+${length} overlaps 0x${r.base.toString(16)}+${r.length}`);
      }
    }
    this.ranges.push({ base, length, device });
    this.ranges.sort((a, b) => a.base - b.base);
  }

  private find(addr: number): Range | undefined {
    const hit = this.lastHit;
    if (hit !== undefined && addr >= hit.base && addr < hit.base + hit.length) return hit;
    for (const r of this.ranges) {
      if (addr >= r.base && addr < r.base + r.length) return (this.lastHit = r);
    }
    return undefined;
  }

  /** False when nothing is mapped at addr (the caller decides what an unmapped access returns). */
  read(addr: number, data: Uint8Array): boolean {
    const r = this.find(addr);
    if (r === undefined) return false;
    r.device.read(addr - r.base, data);
    return true;
  }

  write(addr: number, data: Uint8Array): boolean {
    const r = this.find(addr);
    if (r === undefined) return false;
    r.device.write(addr - r.base, data);
    return true;
  }
}
