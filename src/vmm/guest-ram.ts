// The host side of guest RAM: one memfd holding every RAM region back to back, each region mapped MAP_SHARED and
// seen from TypeScript through GuestMemory. Because the pages belong to the memfd and not to any one mapping,
// giving a page back to the host means punching a hole in the memfd: MADV_DONTNEED on a shared mapping only drops
// that mapping's page-table entries while the page stays in the file.
import { GuestMemory } from './guest-memory';
import { native } from './native';

export interface RamLayout { gpa: number; size: number }

/** A RAM region and where its bytes live in the memfd. */
export interface RamSlot { gpa: number; size: number; offset: number }

const PAGE = 4096;

export class GuestRam {
  readonly memory: GuestMemory;
  readonly slots: readonly RamSlot[];

  private constructor(readonly fd: number, layout: RamLayout[]) {
    let offset = 0;
    this.slots = layout.map((r) => {
      const slot = { gpa: r.gpa, size: r.size, offset };
      offset += r.size;
      return slot;
    });
    const n = native();
    this.memory = new GuestMemory(this.slots.map((s) => ({ gpa: s.gpa, buffer: n.mmapShared(fd, s.size, s.offset) })));
  }

  /** Creates the memfd and maps each region. The caller owns the fd (closing it leaves the mappings valid). */
  static create(layout: RamLayout[], name = 'tsvmm-guest-ram'): GuestRam {
    const n = native();
    const fd = n.memfdCreate(name, layout.reduce((s, r) => s + r.size, 0));
    try {
      return new GuestRam(fd, layout);
    } catch (e) {
      n.close(fd);
      throw e;
    }
  }

  /** Makes every page resident now (allocated and mapped, contents unchanged), so none faults in later. */
  populate(): void {
    const n = native();
    for (const r of this.memory.regions) n.madvise(r.buffer, 0, r.buffer.byteLength, n.constants.MADV_POPULATE_WRITE);
  }

  /**
   * Gives the host pages behind [gpa, gpa+length) back: a hole punched in the memfd frees them and removes them
   * from every mapping (this thread's, the vCPU workers', KVM's through its MMU notifier). The guest reads zeros
   * there on its next touch. The range must be page aligned and inside one region; callers validate guest input
   * first, so a bad range here is a programming error.
   */
  discard(gpa: number, length: number): void {
    const slot = this.slots.find((s) => gpa >= s.gpa && gpa < s.gpa + s.size);
    if (slot === undefined || length <= 0 || gpa % PAGE !== 0 || length % PAGE !== 0
      || gpa + length > slot.gpa + slot.size) {
      throw new RangeError(`0x${gpa.toString(16)}+${length} is not a page-aligned range inside one RAM region`);
    }
    const n = native();
    const c = n.constants;
    n.fallocate(this.fd, c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE, slot.offset + (gpa - slot.gpa), length);
  }
}
