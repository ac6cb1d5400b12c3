// Reading an exit out of the mmapped struct kvm_run. Offsets are those of the x86_64 UAPI header; the union of
// exit data starts at byte 32.
import { KVM_EXIT_IO_OUT } from '../base/kvm-types';

const OFF_IMMEDIATE_EXIT = 1;
const OFF_UNION = 32;

export class KvmRun {
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  clearImmediateExit(): void {
    this.bytes[OFF_IMMEDIATE_EXIT] = 0;
  }

  setImmediateExit(): void {
    this.bytes[OFF_IMMEDIATE_EXIT] = 1;
  }

  // KVM_EXIT_IO: direction u8, size u8, port u16, count u32, data_offset u64
  get ioIsOut(): boolean { return this.bytes[OFF_UNION] === KVM_EXIT_IO_OUT; }
  get ioSize(): number { return this.bytes[OFF_UNION + 1]!; }
  get ioPort(): number { return this.view.getUint16(OFF_UNION + 2, true); }
  get ioCount(): number { return this.view.getUint32(OFF_UNION + 4, true); }
  /** The data of one element of a (possibly string) port access, as a view into kvm_run. */
  ioData(element: number): Uint8Array {
    // data_offset is a u64, but it points inside the few pages of kvm_run: the low word is the whole of it, and
    // reading it as a number spares the exit path a BigInt allocation.
    const offset = this.view.getUint32(OFF_UNION + 8, true);
    const size = this.ioSize;
    return this.bytes.subarray(offset + element * size, offset + (element + 1) * size);
  }

  // KVM_EXIT_MMIO: phys_addr u64, data[8], len u32, is_write u8
  /** The guest physical address as a number (exact: physical addresses fit in 52 bits). */
  get mmioAddr(): number {
    return this.view.getUint32(OFF_UNION + 4, true) * 0x1_0000_0000 + this.view.getUint32(OFF_UNION, true);
  }
  get mmioLen(): number { return this.view.getUint32(OFF_UNION + 16, true); }
  get mmioIsWrite(): boolean { return this.bytes[OFF_UNION + 20] !== 0; }
  mmioData(): Uint8Array {
    return this.bytes.subarray(OFF_UNION + 8, OFF_UNION + 8 + Math.min(this.mmioLen, 8));
  }

  // KVM_EXIT_INTERNAL_ERROR: suberror u32, ndata u32, data u64[16]
  get internalSuberror(): number { return this.view.getUint32(OFF_UNION, true); }
  internalData(): bigint[] {
    const n = Math.min(this.view.getUint32(OFF_UNION + 4, true), 16);
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.view.getBigUint64(OFF_UNION + 8 + i * 8, true));
    return out;
  }

  // KVM_EXIT_SYSTEM_EVENT: type u32
  get systemEventType(): number { return this.view.getUint32(OFF_UNION, true); }

  // KVM_EXIT_FAIL_ENTRY: hardware_entry_failure_reason u64
  get failEntryReason(): bigint { return this.view.getBigUint64(OFF_UNION, true); }
}
