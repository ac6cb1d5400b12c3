// The native half of a vCPU, opened on the thread that runs it. The fast-MMIO table points the addon at words
// inside typed arrays for as long as the vCPU is open; only SharedArrayBuffer memory qualifies, because an ordinary
// ArrayBuffer can be transferred or detached under the table while the native object still holds it.
import { native, type FastMmioEntry, type NativeVcpu } from '../base/native';

export type { NativeVcpu } from '../base/native';

const MAX_GPA = 2n ** 64n - 1n;

function checkShared(what: string, array: Int32Array | Float64Array, index: number): void {
  if (!(array.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(`${what} must be a view of a SharedArrayBuffer`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= array.length) {
    throw new RangeError(`${what}: index ${index} is outside its ${array.length} elements`);
  }
}

function checkEntry(e: FastMmioEntry, i: number): void {
  const what = `fast MMIO entry ${i}`;
  const { READ_WORD, AND_NOT_WORD } = native().FAST_MMIO;
  if (e.kind !== READ_WORD && e.kind !== AND_NOT_WORD) throw new RangeError(`${what}: unknown kind ${e.kind}`);
  const gpa = typeof e.gpa === 'bigint' ? e.gpa : Number.isSafeInteger(e.gpa) ? BigInt(e.gpa) : -1n;
  if (gpa < 0n || gpa > MAX_GPA) throw new RangeError(`${what}: gpa ${String(e.gpa)} is not a guest address`);
  if (!(e.words instanceof Int32Array)) throw new TypeError(`${what}: words must be an Int32Array`);
  checkShared(`${what} words`, e.words, e.index);
}

/** Maps the vCPU's kvm_run; the caller closes the vCPU when its loop ends (the fd stays the VM's to close). */
export function openVcpu(vcpuFd: number, runSize: number): NativeVcpu {
  if (!Number.isInteger(vcpuFd) || vcpuFd < 0) throw new RangeError(`vCPU fd ${vcpuFd} is not a file descriptor`);
  if (!Number.isInteger(runSize) || runSize <= 0) throw new RangeError(`kvm_run size ${runSize} is not positive`);
  return new (native().Vcpu)(vcpuFd, runSize);
}

/** Replaces the vCPU's table of registers answered natively; each answer adds 1 to counters[counterIndex]. */
export function setFastMmio(vcpu: NativeVcpu, entries: FastMmioEntry[], counters: Float64Array,
  counterIndex: number): void {
  entries.forEach(checkEntry);
  if (!(counters instanceof Float64Array)) throw new TypeError('counters must be a Float64Array');
  checkShared('counters', counters, counterIndex);
  vcpu.setFastMmio(entries, counters, counterIndex);
}
