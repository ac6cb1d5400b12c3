// The main thread's handle on one vCPU: its fd, the worker thread that runs it, the shared control word and
// counters. Pause and stop are a store to the control word plus a kick; nothing waits on the worker's JS.
import type { Worker } from 'node:worker_threads';
import type { CpuidEntry } from '../base/kvm-types';
import type { KvmVm } from './kvm-vm';
import { native } from '../base/native';
import { takeVcpuWorker } from './vcpu-prestart';
import {
  CONTROL_BYTES, COUNTER, COUNTER_BYTES, CTL_CMD, CTL_PROBE, CTL_STATE, PROBE, VCPU_CMD, VCPU_STATE,
  type CounterName, type VcpuWorkerData, type WorkerDeviceSpec, type WorkerMessage,
} from './vcpu-protocol';

export class Vcpu {
  readonly fd: number;
  /** The CPUID the guest sees (set with KVM_SET_CPUID2), kept for a snapshot. */
  cpuid: CpuidEntry[] = [];
  private readonly control = new SharedArrayBuffer(CONTROL_BYTES);
  private readonly ctl = new Int32Array(this.control);
  private readonly counterBuffer = new SharedArrayBuffer(COUNTER_BYTES);
  private worker: Worker | undefined;
  private exited: Promise<void> | undefined;

  constructor(private readonly vm: KvmVm, readonly index: number) {
    this.fd = vm.own(native().createVcpu(vm.vmFd, index));
  }

  start(devices: WorkerDeviceSpec[], int3Quirk: boolean, onMessage: (m: WorkerMessage) => void): void {
    if (this.worker) throw new Error(`vCPU ${this.index} already started`);
    const data: VcpuWorkerData = {
      index: this.index,
      vcpuFd: this.fd,
      vmFd: this.vm.vmFd,
      runSize: this.vm.runSize,
      control: this.control,
      counters: this.counterBuffer,
      devices,
      memory: { regions: this.vm.ram.slots.map((s, i) => ({ gpa: s.gpa, size: s.size, mapping: this.vm.ram.mappingIds[i]! })) },
      int3Quirk,
    };
    const worker = takeVcpuWorker();
    worker.postMessage(data);
    this.worker = worker;
    worker.on('message', onMessage);
    worker.on('error', (e) => onMessage({ type: 'exit', vcpu: this.index, reason: 'error', detail: e.stack ?? String(e) }));
    this.exited = new Promise((resolve) => worker.once('exit', (code) => {
      // A thread that ends with no word (killed, out of memory) must still end its machine.
      if (code !== 0) {
        onMessage({ type: 'exit', vcpu: this.index, reason: 'error', detail: `vCPU ${this.index} thread exited with code ${code}` });
      }
      resolve();
    }));
  }

  get state(): 'starting' | 'running' | 'paused' | 'stopped' {
    const s = Atomics.load(this.ctl, CTL_STATE);
    return s === VCPU_STATE.RUNNING ? 'running' : s === VCPU_STATE.PAUSED ? 'paused'
      : s === VCPU_STATE.STOPPED ? 'stopped' : 'starting';
  }

  pause(): void {
    Atomics.store(this.ctl, CTL_CMD, VCPU_CMD.PAUSE);
    native().kick(this.fd);
  }

  resume(): void {
    Atomics.store(this.ctl, CTL_CMD, VCPU_CMD.RUN);
    Atomics.notify(this.ctl, CTL_CMD);
  }

  /** Asks the worker what the vCPU is doing (see halt-watch.ts); the answer is read later with probeAnswer(). */
  probe(): void {
    Atomics.store(this.ctl, CTL_PROBE, PROBE.ASKED);
    native().kick(this.fd);
  }

  /** The last probe's answer: running, halted (interrupts off) or waiting (never started); undefined if none yet. */
  probeAnswer(): 'running' | 'halted' | 'waiting' | undefined {
    const a = Atomics.load(this.ctl, CTL_PROBE);
    return a === PROBE.RUNNING ? 'running' : a === PROBE.HALTED ? 'halted' : a === PROBE.WAITING ? 'waiting' : undefined;
  }

  /** Asks the worker to leave its loop and resolves when the thread is gone. */
  async stop(): Promise<void> {
    Atomics.store(this.ctl, CTL_CMD, VCPU_CMD.STOP);
    Atomics.notify(this.ctl, CTL_CMD);
    native().kick(this.fd);
    await this.exited;
  }

  counters(): Record<CounterName, number> {
    const c = new Float64Array(this.counterBuffer);
    const out = {} as Record<CounterName, number>;
    for (const [name, i] of Object.entries(COUNTER)) out[name as CounterName] = c[i]!;
    return out;
  }
}
