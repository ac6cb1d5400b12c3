// The host side of guest RAM: one file holding every RAM region back to back, each region mapped once and seen from
// TypeScript through GuestMemory (KVM maps the same addresses). A new machine's file is a memfd mapped MAP_SHARED:
// the pages belong to the memfd and not to any one mapping, so giving a page back to the host means punching a
// hole in it (MADV_DONTNEED on a shared mapping only drops that mapping's page-table entries). A machine restored
// from a snapshot maps the snapshot's memory file MAP_PRIVATE instead: it reads the file's pages from the page
// cache, shared with every other machine restored from the same file, and its writes go to private copies.
import * as fs from 'node:fs';
import { GuestMemory } from './guest-memory';
import { native, type SharedMapping } from './native';

export interface RamLayout { gpa: number; size: number }

/** A RAM region and where its bytes live in the memfd. */
export interface RamSlot { gpa: number; size: number; offset: number }

const PAGE = 4096;

const totalBytes = (layout: RamLayout[]): number => layout.reduce((s, r) => s + r.size, 0);

export class GuestRam {
  readonly memory: GuestMemory;
  readonly slots: readonly RamSlot[];
  /** Each region's mapping, by id (native readMapping), in the order of slots. */
  readonly mappingIds: readonly number[];
  private closed = false;

  /**
   * `fd` is a memfd (shared) or, with copyOnWrite, a read-only file the regions are mapped private from: a
   * snapshot's memory file, which must not change while any machine maps it.
   */
  private constructor(readonly fd: number, layout: RamLayout[], private readonly mappings: SharedMapping[],
    readonly copyOnWrite: boolean) {
    let offset = 0;
    this.slots = layout.map((r) => {
      const slot = { gpa: r.gpa, size: r.size, offset };
      offset += r.size;
      return slot;
    });
    const n = native();
    for (const s of this.slots) mappings.push(new n.SharedMapping(fd, s.size, s.offset, copyOnWrite));
    this.mappingIds = mappings.map((m) => m.id);
    this.memory = new GuestMemory(this.slots.map((s, i) => ({ gpa: s.gpa, buffer: mappings[i]!.buffer! })));
  }

  /** Creates the memfd and maps each region; close() gives both back. */
  static create(layout: RamLayout[], name = 'tsvmm-guest-ram'): GuestRam {
    const n = native();
    return GuestRam.build(n.memfdCreate(name, totalBytes(layout)), layout, false);
  }

  /**
   * Maps guest RAM copy-on-write from `fd`, an open read-only file exactly as large as the layout (a smaller one
   * would fault the VMM when it is read past its end). Takes the fd: close() closes it.
   */
  static fromFile(layout: RamLayout[], fd: number): GuestRam {
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (size !== totalBytes(layout)) {
      fs.closeSync(fd);
      throw new RangeError(`the memory file holds ${size} bytes, not the ${totalBytes(layout)} of guest RAM`);
    }
    return GuestRam.build(fd, layout, true);
  }

  private static build(fd: number, layout: RamLayout[], copyOnWrite: boolean): GuestRam {
    const mappings: SharedMapping[] = [];
    try {
      return new GuestRam(fd, layout, mappings, copyOnWrite);
    } catch (e) {
      for (const m of mappings) m.close();
      native().close(fd);
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

  /**
   * Makes every page resident now (allocated and mapped, contents unchanged), so none faults in later. A
   * copy-on-write RAM maps the file's pages for reading only: copying them all would undo the sharing.
   */
  populate(): void {
    const n = native();
    if (this.closed) throw new TypeError('guest RAM is closed');
    const advice = this.copyOnWrite ? n.constants.MADV_POPULATE_READ : n.constants.MADV_POPULATE_WRITE;
    for (const r of this.memory.regions) n.madvise(r.buffer, 0, r.buffer.byteLength, advice);
  }

  /**
   * Gives the host pages behind [gpa, gpa+length) back: a hole punched in the memfd frees them and removes them
   * from every mapping (this thread's, the vCPU workers', KVM's through its MMU notifier). The guest reads zeros
   * there on its next touch. The range must be page aligned and inside one region; callers validate guest input
   * first, so a bad range here is a programming error. A copy-on-write RAM puts fresh anonymous pages over the
   * range instead (the file is not this machine's to change): its private copies go, and the guest reads zeros
   * there too.
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
    if (this.copyOnWrite) {
      const i = this.slots.indexOf(slot);
      n.zeroPrivate(this.memory.regions[i]!.buffer, gpa - slot.gpa, length);
      return;
    }
    n.fallocate(this.fd, c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE, slot.offset + (gpa - slot.gpa), length);
  }
}
