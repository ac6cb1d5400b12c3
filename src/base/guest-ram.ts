// The host side of guest RAM: one memfd holding every RAM region back to back, each region mapped MAP_SHARED and
// seen from TypeScript through GuestMemory. Because the pages belong to the memfd and not to any one mapping,
// giving a page back to the host means punching a hole in the memfd: MADV_DONTNEED on a shared mapping only drops
// that mapping's page-table entries while the page stays in the file.
import { GuestMemory } from './guest-memory';
import { native, type SharedMapping } from './native';

export interface RamLayout { gpa: number; size: number }

/** A RAM region and where its bytes live in the memfd. */
export interface RamSlot { gpa: number; size: number; offset: number }

const PAGE = 4096;

export class GuestRam {
  readonly memory: GuestMemory;
  readonly slots: readonly RamSlot[];
  private closed = false;

  private constructor(readonly fd: number, layout: RamLayout[], private readonly mappings: SharedMapping[]) {
    let offset = 0;
    this.slots = layout.map((r) => {
      const slot = { gpa: r.gpa, size: r.size, offset };
      offset += r.size;
      return slot;
    });
    const n = native();
    for (const s of this.slots) mappings.push(new n.SharedMapping(fd, s.size, s.offset));
    this.memory = new GuestMemory(this.slots.map((s, i) => ({ gpa: s.gpa, buffer: mappings[i]!.buffer! })));
  }

  /** Creates the memfd and maps each region; close() gives both back. */
  static create(layout: RamLayout[], name = 'tsvmm-guest-ram'): GuestRam {
    const n = native();
    const fd = n.memfdCreate(name, layout.reduce((s, r) => s + r.size, 0));
    const mappings: SharedMapping[] = [];
    try {
      return new GuestRam(fd, layout, mappings);
    } catch (e) {
      for (const m of mappings) m.close();
      n.close(fd);
      throw e;
    }
  }

  /**
   * Unmaps every region and closes the memfd now, so the pages go back to the host even while something still
   * holds this object. Afterwards GuestMemory throws TypeError and views made earlier read as empty.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.memory.close();
    for (const m of this.mappings) m.close();
    native().close(this.fd);
  }

  /** Makes every page resident now (allocated and mapped, contents unchanged), so none faults in later. */
  populate(): void {
    const n = native();
    if (this.closed) throw new TypeError('guest RAM is closed');
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
    if (this.closed) throw new TypeError('guest RAM is closed');
    const n = native();
    const c = n.constants;
    n.fallocate(this.fd, c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE, slot.offset + (gpa - slot.gpa), length);
  }
}
