// A whole machine's state as the named sections of state.bin, and back: the VM's blobs (vm.*), each vCPU's
// (vcpuN.*, its CPUID as JSON), the UART, the i8042 and the virtio devices (virtio-state.ts). A machine with a
// device whose state is not saved yet is refused before anything is read.
import type { CpuidEntry } from '../../base/kvm-types';
import { native } from '../../base/native';
import { exportI8042State, importI8042State } from '../../devices/i8042';
import { exportSerialState, importSerialState } from '../../devices/serial-8250';
import type { MachineConfig } from '../config';
import type { KvmVm } from '../kvm-vm';
import type { AttachedVirtio } from '../virtio-devices';
import { Vcpu } from '../vcpu';
import { loadMemory, SnapshotError, writeSnapshot, type SnapshotImage } from './format';
import {
  captureVcpu, captureVm, checkBlobSize, fitXsave, restoreClock, restoreVcpu, restoreVmDevices, VCPU_BLOBS, VM_BLOBS,
  type VcpuSnapshot, type VmSnapshot,
} from './kvm-state';
import { memoryImage, ramView } from './memory';
import { captureVirtio, checkVirtioSnapshotable, readVirtio, restoreVirtio } from './virtio-state';

/** What of a machine a snapshot reads and writes. */
export interface MachineParts {
  vm: KvmVm;
  vcpus: Vcpu[];
  serial: SharedArrayBuffer;
  i8042: SharedArrayBuffer;
  /** The virtio devices, in config order. */
  virtio: readonly AttachedVirtio[];
}

/** Refuses a config whose devices a snapshot cannot hold yet, naming the first such device. */
export function checkSnapshotable(config: MachineConfig): void {
  checkVirtioSnapshotable(config);
}

/** The sections of state.bin for a paused machine (every vCPU out of KVM_RUN). */
export function captureSections(parts: MachineParts): Map<string, Uint8Array> {
  const { vm, vcpus } = parts;
  const sections = new Map<string, Uint8Array>();
  const vmState = captureVm(vm.vmFd);
  for (const k of VM_BLOBS) sections.set(`vm.${k}`, vmState[k]);
  for (const v of vcpus) {
    const s = captureVcpu(vm.kvmFd, vm.vmFd, v.fd, v.cpuid);
    sections.set(`vcpu${v.index}.cpuid`, Buffer.from(JSON.stringify(s.cpuid)));
    for (const k of VCPU_BLOBS) sections.set(`vcpu${v.index}.${k}`, s.blobs[k]);
    sections.set(`vcpu${v.index}.xsave`, s.xsave);
    sections.set(`vcpu${v.index}.msrs`, s.msrs);
  }
  sections.set('serial', exportSerialState(parts.serial));
  sections.set('i8042', exportI8042State(parts.i8042));
  for (const [name, data] of captureVirtio(parts.virtio)) sections.set(name, data);
  return sections;
}

/**
 * Writes a snapshot of a paused machine into `dir` (docs/snapshot.md): once `settle` says no device I/O is in
 * flight, so every chain a device took is back with the driver, its state and guest RAM are taken and written in
 * one go (writeSnapshot).
 */
export async function snapshotMachine(dir: string, config: MachineConfig, parts: MachineParts,
  settle: () => Promise<void>): Promise<void> {
  await writeSnapshot(dir, config, { settle, capture: () => ({ sections: captureSections(parts), memory: memoryImage(parts.vm.ram) }) });
}

function section(image: SnapshotImage, name: string): Buffer {
  const data = image.sections.get(name);
  if (data === undefined) throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state.bin has no section ${name}`);
  return data;
}

function parseCpuid(name: string, data: Buffer): CpuidEntry[] {
  let entries: unknown;
  try {
    entries = JSON.parse(data.toString('utf8'));
  } catch {
    entries = undefined;
  }
  const fields = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;
  const ok = Array.isArray(entries) && entries.every((e: unknown) => typeof e === 'object' && e !== null &&
    fields.every((f) => Number.isInteger((e as Record<string, unknown>)[f])));
  if (!ok) throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state section ${name} is not a list of CPUID entries`);
  return entries as CpuidEntry[];
}

function vcpuSnapshot(image: SnapshotImage, index: number, vmFd: number): VcpuSnapshot {
  const kinds = native().STATE_KINDS.vcpu;
  const name = (k: string): string => `vcpu${index}.${k}`;
  const blobs = {} as VcpuSnapshot['blobs'];
  for (const k of VCPU_BLOBS) blobs[k] = checkBlobSize(name(k), section(image, name(k)), kinds[k].bytes);
  return {
    cpuid: parseCpuid(name('cpuid'), section(image, name('cpuid'))),
    blobs,
    xsave: fitXsave(name('xsave'), section(image, name('xsave')), vmFd),
    msrs: section(image, name('msrs')),
  };
}

/**
 * Puts a snapshot into a machine built from its config with no guest loaded: guest RAM from memory.bin, the
 * interrupt controllers and PIT, a vCPU per snapshot vCPU (pushed onto parts.vcpus) with its state, the UART and
 * the i8042, kvmclock, and the virtio devices last (they may use their rings and interrupt at once). Every section
 * is read and checked before KVM is told anything.
 */
export function restoreSections(image: SnapshotImage, parts: MachineParts): void {
  const { vm } = parts;
  checkSnapshotable(image.config);
  const vmKinds = native().STATE_KINDS.vm;
  const vmState = {} as VmSnapshot;
  for (const k of VM_BLOBS) vmState[k] = checkBlobSize(`vm.${k}`, section(image, `vm.${k}`), vmKinds[k].bytes);
  const vcpus = Array.from({ length: image.config.vcpus }, (_, i) => vcpuSnapshot(image, i, vm.vmFd));
  const serial = section(image, 'serial');
  const i8042 = section(image, 'i8042');
  const virtio = readVirtio(image, parts.virtio);
  if (!vm.ram.copyOnWrite) loadMemory(image, ramView(vm.ram)); // else mapped from memory.bin, checked already
  try {
    importSerialState(parts.serial, serial);
    importI8042State(parts.i8042, i8042);
  } catch (e) {
    throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state section ${(e as Error).message}`, { cause: e });
  }
  restoreVmDevices(vm.vmFd, vmState);
  for (const [i, s] of vcpus.entries()) {
    const v = new Vcpu(vm, i);
    parts.vcpus.push(v);
    v.cpuid = s.cpuid;
    restoreVcpu(v.fd, i, s);
  }
  restoreClock(vm.vmFd, vmState);
  restoreVirtio(parts.virtio, virtio);
}
