// Starting a vCPU thread costs tens of milliseconds before it can run anything: a new V8 isolate, Node's bootstrap
// for it, the worker's modules and the addon. `tsvmm run` begins that at once, while the main thread loads the CLI
// and builds the machine, and the machine's first vCPU takes the thread that is already up (src/vmm/vcpu.ts).
// This file loads little (worker_threads), so asking for a thread early costs the main thread almost nothing.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const WORKER = path.join(__dirname, 'vcpu-worker.js');
let spare: Worker | undefined;
let spareGone = false;

function create(): Worker {
  return new Worker(WORKER, { stdout: false });
}

/** Starts one vCPU thread that waits for its vCPU; it does not keep the process alive until it is taken. */
export function prestartVcpuWorker(): void {
  if (spare) return;
  const w = create();
  spareGone = false;
  // An error before the thread is taken (the addon failed to load, say) is seen again by the fresh thread that
  // takeVcpuWorker starts instead, where the vCPU's own error handling reports it.
  w.once('error', () => { spareGone = true; });
  w.once('exit', () => { spareGone = true; });
  w.unref();
  spare = w;
}

/** The prestarted thread when there is a live one, else a new one. The caller sends it the vCPU's data. */
export function takeVcpuWorker(): Worker {
  const w = spare;
  spare = undefined;
  if (w && !spareGone) {
    w.removeAllListeners('error');
    w.removeAllListeners('exit');
    w.ref();
    return w;
  }
  return create();
}
