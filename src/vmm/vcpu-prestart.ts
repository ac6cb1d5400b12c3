// Starting a vCPU thread costs tens of milliseconds before it can run anything: a new V8 isolate, Node's bootstrap
// for it, the worker's modules and the addon. `tsvmm run` begins that at once, while the main thread loads the CLI
// and builds the machine, and the machine's first vCPU takes the thread that is already up (src/vmm/vcpu.ts). A
// process that starts machines again and again (sandboxes, clones, a pool) can keep a reserve of such threads
// (setVcpuThreadReserve): each vCPU takes one that is up and the reserve starts its replacement behind it, so the
// thread's start-up leaves the path from createVm() to the guest's first instruction. Each idle thread costs its
// isolate's memory (about 7 MiB).
// This file loads little (worker_threads), so asking for a thread early costs the main thread almost nothing.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const WORKER = path.join(__dirname, 'vcpu-worker.js');
/** Threads up or coming up, waiting for a vCPU; one that failed or ended is dropped from here at once. */
const spares: Worker[] = [];
/** Spares whose thread runs JavaScript already (Node's 'online'): their isolate is up. */
const online = new WeakSet<Worker>();
let reserve = 0;
let refillQueued = false;

/** The most threads a reserve may keep, so a typo cannot start hundreds of isolates. */
export const MAX_VCPU_THREAD_RESERVE = 64;

function create(): Worker {
  return new Worker(WORKER, { stdout: false });
}

function addSpare(): void {
  const w = create();
  // An error before the thread is taken (the addon failed to load, say) is seen again by the fresh thread that
  // takeVcpuWorker starts instead, where the vCPU's own error handling reports it.
  const drop = (): void => {
    const i = spares.indexOf(w);
    if (i >= 0) spares.splice(i, 1);
  };
  w.once('error', drop);
  w.once('exit', drop);
  w.once('online', () => online.add(w));
  // A spare never keeps the process alive.
  w.unref();
  spares.push(w);
}

/** Starts one vCPU thread that waits for its vCPU; it does not keep the process alive until it is taken. */
export function prestartVcpuWorker(): void {
  if (spares.length === 0) addSpare();
}

/**
 * Keeps `count` vCPU threads started and waiting, refilled after each is taken (on a later turn of the event loop,
 * so the machine being built is not held up). 0 stops refilling and ends the idle ones.
 */
export function setVcpuThreadReserve(count: number): void {
  reserve = count;
  while (spares.length > reserve) void spares.pop()!.terminate();
  while (spares.length < reserve) addSpare();
}

/** Threads waiting now (`online`: of those, the ones whose isolate is up), and the reserve asked for. */
export function vcpuThreadReserve(): { waiting: number; online: number; reserve: number } {
  return { waiting: spares.length, online: spares.filter((w) => online.has(w)).length, reserve };
}

/** A prestarted thread when there is a live one, else a new one. The caller sends it the vCPU's data. */
export function takeVcpuWorker(): Worker {
  const w = spares.shift();
  if (spares.length < reserve && !refillQueued) {
    refillQueued = true;
    setImmediate(() => {
      refillQueued = false;
      while (spares.length < reserve) addSpare();
    });
  }
  if (w === undefined) return create();
  w.removeAllListeners('error');
  w.removeAllListeners('exit');
  w.removeAllListeners('online');
  w.ref();
  return w;
}
