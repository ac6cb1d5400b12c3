// The sandbox rows: how soon a sandbox runs its first command, and one command's round trip. tsvmm is measured
// the way a library user meets it, createSandbox() in this process; QEMU the way its users do, a new process with
// qemu-ga over virtio-serial on the same kernel. Both guests run busybox init and the same /bin/true.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createSandbox, type Sandbox } from '../src/api/sandbox';
import { resolveGuestArtifact } from '../src/guest/build';
import { hostQuirks, withQuirkCmdline } from '../src/vmm/host-quirks';
import { microvmArgs } from '../test/helpers/qemu';
import { buildQgaInitramfs, QgaClient, qgaDeviceArgs } from './qga';
import { addSample, fromSamples, type PerMonitor, type Row } from './table';
import type { BenchContext } from './tiny';

const MEM_MIB = 256;
const TRUE = '/bin/true';
const CMDLINE = 'console=ttyS0 reboot=k panic=-1 quiet';
/** A Linux boot on a host that emulates guest kernel code takes most of a minute. */
const START_TIMEOUT_MS = 300_000;

interface SandboxSamples { start: PerMonitor; roundTrip: PerMonitor }

function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

async function tsvmmRun(ctx: BenchContext, s: SandboxSamples, execs: number): Promise<void> {
  const t0 = process.hrtime.bigint();
  let sb: Sandbox | undefined;
  try {
    sb = await createSandbox({ memory: `${MEM_MIB}M`, readyTimeoutMs: START_TIMEOUT_MS });
    const first = await sb.exec([TRUE]);
    if (first.exitCode !== 0) throw new Error(`${TRUE} exited ${String(first.exitCode)}`);
    addSample(s.start, 'tsvmm', elapsedMs(t0));
    for (let i = 0; i < execs; i++) {
      const t = process.hrtime.bigint();
      await sb.exec([TRUE]);
      addSample(s.roundTrip, 'tsvmm', elapsedMs(t));
    }
  } catch (e) {
    ctx.problems.push(`tsvmm sandbox: ${(e as Error).message}`);
  } finally {
    await sb?.close();
  }
}

async function qemuRun(ctx: BenchContext, initrd: string, kernel: string, s: SandboxSamples, execs: number,
  run: number): Promise<void> {
  const socket = path.join(ctx.workDir, `qga-${run}.sock`);
  const args = microvmArgs({ kernel, initrd, memMiB: MEM_MIB, vcpus: 1, memfd: true,
    append: withQuirkCmdline(CMDLINE, hostQuirks('auto')), devices: qgaDeviceArgs(socket) });
  const t0 = process.hrtime.bigint();
  const qemu: ChildProcess = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const ended = new Promise<never>((_, reject) => {
    qemu.once('exit', (code) => { reject(new Error(`QEMU ended (${String(code)}): ${stderr.trim().slice(-300)}`)); });
  });
  let qga: QgaClient | undefined;
  const timer = setTimeout(() => { qemu.kill('SIGKILL'); }, START_TIMEOUT_MS);
  try {
    qga = await Promise.race([QgaClient.connect(socket, Date.now() + 10_000), ended]);
    const code = await Promise.race([qga.run(TRUE), ended]);
    if (code !== 0) throw new Error(`${TRUE} exited ${code}`);
    addSample(s.start, 'qemu', elapsedMs(t0));
    for (let i = 0; i < execs; i++) {
      const t = process.hrtime.bigint();
      await qga.run(TRUE);
      addSample(s.roundTrip, 'qemu', elapsedMs(t));
    }
  } catch (e) {
    ctx.problems.push(`QEMU with qemu-ga: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
    qga?.close();
    qemu.kill('SIGKILL');
    await ended.catch(() => undefined);
  }
}

export async function sandboxRows(ctx: BenchContext): Promise<Row[]> {
  const log = (line: string): void => { ctx.progress(line); };
  const runs = ctx.opts.quick ? 1 : Math.min(ctx.opts.runs, 3);
  const execs = ctx.opts.quick ? 10 : 100;
  const s: SandboxSamples = { start: {}, roundTrip: {} };
  // Built before any clock starts: the first createSandbox() would otherwise time the agent's build.
  const kernel = await resolveGuestArtifact('@guest/vmlinux', { log });
  await resolveGuestArtifact('@guest/sandbox.cpio', { log });
  let qgaImage: string | undefined;
  if (ctx.monitors.includes('qemu')) {
    qgaImage = path.join(ctx.workDir, 'qga.cpio');
    try {
      await buildQgaInitramfs(qgaImage, log);
    } catch (e) {
      ctx.problems.push(`the qemu-ga initramfs: ${(e as Error).message}`);
      qgaImage = undefined;
    }
  }
  for (let i = 0; i < runs; i++) {
    log(`sandbox: run ${i + 1}/${runs}: tsvmm`);
    await tsvmmRun(ctx, s, execs);
    if (qgaImage !== undefined) {
      log(`sandbox: run ${i + 1}/${runs}: QEMU with qemu-ga`);
      await qemuRun(ctx, qgaImage, kernel, s, execs, i);
    }
  }
  return [
    { group: 'sandbox', measure: 'sandbox: start to the first command\'s result', unit: 'ms', better: 'lower',
      ...fromSamples(s.start), note: `median of ${runs}; tsvmm: createSandbox() in this process; QEMU: a new process, ` +
        `qemu-ga guest-exec; ${MEM_MIB} MiB, 1 vCPU` },
    { group: 'sandbox', measure: `sandbox: exec round trip (${TRUE})`, unit: 'ms', better: 'lower',
      ...fromSamples(s.roundTrip), note: `median of ${runs * execs}; QEMU: guest-exec, then guest-exec-status until exited` },
  ];
}
