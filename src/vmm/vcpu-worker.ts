// A vCPU's thread: KVM_RUN in a loop, each port-I/O and MMIO exit answered here, synchronously, by the register
// side of the devices. Only what needs the main thread (an exit of the VM, device events, logs) is posted, and
// the vCPU never waits for an answer.
//
// The thread can start before its vCPU exists (src/vmm/vcpu-prestart.ts): its modules load while the main thread
// is still building the machine, and the vCPU's data arrives as the first message.
import { parentPort } from 'node:worker_threads';
import { KvmRun } from './kvm-run';
import { KVM_EXIT, KVM_INTERNAL_ERROR_EMULATION, KVM_MP_STATE, KVM_SYSTEM_EVENT, RFLAGS_IF } from '../base/kvm-types';
import { native, type NativeAddon } from '../base/native';
import {
  COUNTER, CTL_CMD, CTL_PROBE, CTL_STATE, PROBE, VCPU_CMD, VCPU_STATE,
  type ExitReason, type VcpuWorkerData, type WorkerMessage,
} from './vcpu-protocol';
import { buildBuses, postToMain } from './worker-devices';
import { tryEmulationQuirk } from './emulation-quirks';
import { openVcpu, setFastMmio, type NativeVcpu } from './vcpu-native';
import { fastRegisters } from '../virtio-mmio/mmio-registers';

/** An x86 CPU's state after reset: real mode, about to fetch from the reset vector. */
const RESET_RIP = 0xfff0n;
const CR0_PE = 1n;
const post = (msg: WorkerMessage): void => postToMain(msg);
/** Addresses already reported as unhandled: io ports and MMIO addresses, reported once each. */
const reportedUnhandled = { io: new Set<number>(), mmio: new Set<number>() };
// One vCPU per thread: set once by start(). The addon too is loaded only then: a thread started ahead of its vCPU
// may be torn down by the process exiting (a config error), and an addon call during that teardown is fatal.
let n: NativeAddon;
let data: VcpuWorkerData;
let control: Int32Array;
let counters: Float64Array;
let buses: ReturnType<typeof buildBuses>;
let run: KvmRun;
let vcpu: NativeVcpu | undefined;

function log(level: 'debug' | 'info' | 'warn' | 'error', msg: string): void {
  post({ type: 'log', vcpu: data.index, level, msg });
}

function exitVm(reason: ExitReason, detail: string): void {
  post({ type: 'exit', vcpu: data.index, reason, detail });
}

function unhandled(kind: 'io' | 'mmio', addr: number, write: boolean): void {
  counters[kind === 'io' ? COUNTER.unhandledIo : COUNTER.unhandledMmio]! += 1;
  const seen = reportedUnhandled[kind];
  if (seen.has(addr) || seen.size > 256) return;
  seen.add(addr);
  log('debug', `unhandled ${kind} ${write ? 'write' : 'read'} at 0x${addr.toString(16)} (reported once)`);
}

function handleIo(): void {
  counters[COUNTER.io]! += 1;
  const port = run.ioPort;
  const out = run.ioIsOut;
  const count = run.ioCount;
  for (let i = 0; i < count; i++) {
    const d = run.ioData(i);
    const ok = out ? buses.pio.write(port, d) : buses.pio.read(port, d);
    if (!ok) {
      if (!out) d.fill(0xff);
      unhandled('io', port, out);
    }
  }
}

function handleMmio(): void {
  counters[COUNTER.mmio]! += 1;
  const a = run.mmioAddr;
  const d = run.mmioData();
  const write = run.mmioIsWrite;
  const ok = write ? buses.mmio.write(a, d) : buses.mmio.read(a, d);
  if (!ok) {
    if (!write) d.fill(0);
    unhandled('mmio', a, write);
  }
}

function handleInternalError(): boolean {
  const sub = run.internalSuberror;
  if (sub === KVM_INTERNAL_ERROR_EMULATION && data.int3Quirk && tryEmulationQuirk(data, log)) {
    counters[COUNTER.emulationQuirks]! += 1;
    return true;
  }
  const extra = run.internalData().map((v) => '0x' + v.toString(16)).join(' ');
  let rip = '';
  try { rip = ` at rip 0x${n.getRegs(data.vcpuFd).rip.toString(16)}`; } catch { /* registers unreadable */ }
  const what = sub === KVM_INTERNAL_ERROR_EMULATION ? 'emulation-failure' : 'internal-error';
  exitVm(what, `KVM internal error, suberror ${sub}${rip}${extra ? ` (data ${extra})` : ''}`);
  return false;
}

/**
 * Where a vCPU shut down: enough to find the faulting code in the guest's System.map. AMD's KVM reinitialises the
 * vCPU before it reports the shutdown, so there the registers hold the reset vector and say nothing: that is said.
 */
function shutdownState(): string {
  try {
    const r = n.getRegs(data.vcpuFd);
    const s = n.getSregs(data.vcpuFd);
    const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
    if (r.rip === RESET_RIP && (s.cr0 & CR0_PE) === 0n) return ` on vCPU ${data.index} (its registers were reset, so where is not known)`;
    return ` on vCPU ${data.index}: rip ${hex(r.rip)} rsp ${hex(r.rsp)} cr0 ${hex(s.cr0)} cr2 ${hex(s.cr2)} ` +
      `cr3 ${hex(s.cr3)} cr4 ${hex(s.cr4)} efer ${hex(s.efer)} idt ${hex(s.idt.base)}/${hex(s.idt.limit)}`;
  } catch {
    return ` on vCPU ${data.index}`;
  }
}

/** Handles one exit; false when the vCPU must stop running. */
function handleExit(reason: number): boolean {
  switch (reason) {
    case -1:
      counters[COUNTER.interrupted]! += 1;
      run.clearImmediateExit();
      // A halt probe always comes with a kick, and a kick always ends in this exit: the other exits never look.
      if (Atomics.load(control, CTL_PROBE) === PROBE.ASKED) answerProbe();
      return true;
    case KVM_EXIT.IO: handleIo(); return true;
    case KVM_EXIT.MMIO: handleMmio(); return true;
    case KVM_EXIT.HLT:
      counters[COUNTER.hlt]! += 1;
      exitVm('poweroff', 'the vCPU halted with no interrupt controller to wake it');
      return false;
    case KVM_EXIT.SHUTDOWN:
      exitVm('triple-fault', `the guest triple-faulted (KVM_EXIT_SHUTDOWN)${shutdownState()}`);
      return false;
    case KVM_EXIT.SYSTEM_EVENT: {
      const t = run.systemEventType;
      if (t === KVM_SYSTEM_EVENT.RESET) exitVm('reset', 'the guest asked for a reset');
      else if (t === KVM_SYSTEM_EVENT.CRASH) exitVm('panic', 'the guest reported a crash');
      else exitVm('poweroff', 'the guest powered off');
      return false;
    }
    case KVM_EXIT.INTERNAL_ERROR: return handleInternalError();
    case KVM_EXIT.FAIL_ENTRY:
      exitVm('fail-entry', `KVM could not enter the guest (reason 0x${run.failEntryReason.toString(16)})`);
      return false;
    case KVM_EXIT.INTR:
      counters[COUNTER.interrupted]! += 1;
      return true;
    default:
      counters[COUNTER.other]! += 1;
      exitVm('internal-error', `unexpected KVM exit reason ${reason}`);
      return false;
  }
}

/**
 * Answers the main thread's halt probe (src/vmm/halt-watch.ts) while this vCPU is out of KVM_RUN, the only time
 * KVM_GET_MP_STATE means anything: an in-kernel HLT is otherwise invisible from here.
 */
let probeFailed = false;

function answerProbe(): void {
  let answer: number = PROBE.RUNNING;
  try {
    const mp = n.getMpState(data.vcpuFd);
    if (mp === KVM_MP_STATE.HALTED) {
      answer = (n.getRegs(data.vcpuFd).rflags & RFLAGS_IF) !== 0n ? PROBE.RUNNING : PROBE.HALTED;
    } else if (mp === KVM_MP_STATE.UNINITIALIZED || mp === KVM_MP_STATE.INIT_RECEIVED) {
      answer = PROBE.WAITING;
    }
  } catch (e) {
    // Unreadable state is no evidence of a halt: nothing ends on a guess, and the reason is said once.
    if (!probeFailed) log('warn', `the halt probe cannot read vCPU ${data.index}'s state: ${(e as Error).message}`);
    probeFailed = true;
  }
  Atomics.store(control, CTL_PROBE, answer);
}

function setState(state: number, name: 'running' | 'paused' | 'stopped'): void {
  if (Atomics.exchange(control, CTL_STATE, state) !== state) post({ type: 'state', vcpu: data.index, state: name });
}

/** The last exit was port I/O or MMIO, which KVM finishes only on the next KVM_RUN. */
let exitPending = false;

/**
 * KVM completes an I/O or MMIO exit (an IN's data into RAX, a string access's RSI / RDI) only when KVM_RUN is
 * entered again, and keeps that pending work where no state ioctl can see it. A vCPU pauses only with it done, so
 * a snapshot of a paused vCPU is whole: entering with immediate_exit set finishes it and runs no guest code
 * (KVM's api.rst, KVM_RUN). False when the vCPU must stop running.
 */
function completePendingExit(): boolean {
  while (exitPending) {
    exitPending = false;
    run.setImmediateExit();
    let reason: number;
    try {
      reason = vcpu!.run();
    } catch (e) {
      exitVm('error', `KVM_RUN failed: ${(e as Error).message}`);
      return false;
    }
    run.clearImmediateExit();
    // A string I/O instruction may go on with another exit before it is complete.
    if (reason !== -1 && !handleRunExit(reason)) return false;
  }
  return true;
}

function handleRunExit(reason: number): boolean {
  exitPending = reason === KVM_EXIT.IO || reason === KVM_EXIT.MMIO;
  return handleExit(reason);
}

function loop(): void {
  for (;;) {
    const cmd = Atomics.load(control, CTL_CMD);
    if (cmd === VCPU_CMD.STOP) return;
    if (cmd === VCPU_CMD.PAUSE) {
      if (!completePendingExit()) return;
      setState(VCPU_STATE.PAUSED, 'paused');
      Atomics.wait(control, CTL_CMD, VCPU_CMD.PAUSE);
      continue;
    }
    setState(VCPU_STATE.RUNNING, 'running');
    let reason: number;
    try {
      reason = vcpu!.run();
    } catch (e) {
      exitVm('error', `KVM_RUN failed: ${(e as Error).message}`);
      return;
    }
    if (!handleRunExit(reason)) return;
  }
}

function start(d: VcpuWorkerData): void {
  n = native();
  data = d;
  control = new Int32Array(d.control);
  counters = new Float64Array(d.counters);
  try {
    const stopVcpu = (): void => { Atomics.store(control, CTL_CMD, VCPU_CMD.STOP); };
    buses = buildBuses(d.devices, { vcpu: d.index, vmFd: d.vmFd, post, stopVcpu });
    vcpu = openVcpu(d.vcpuFd, d.runSize);
    run = new KvmRun(vcpu.runBuffer!);
    setFastMmio(vcpu, d.devices.flatMap((x) => (x.kind === 'virtio-mmio' ? fastRegisters(x.base, x.state) : [])),
      counters, COUNTER.fastMmio);
    loop();
  } catch (e) {
    exitVm('error', `vCPU ${d.index} failed: ${(e as Error).stack ?? String(e)}`);
  } finally {
    // The thread may outlive its machine (a spare, a slow exit): the mappings go now, not when it is collected.
    vcpu?.close();
    setState(VCPU_STATE.STOPPED, 'stopped');
  }
}

parentPort?.once('message', start);
