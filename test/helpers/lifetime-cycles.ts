// Makes and drops machines, or the native objects one is made of, over and over in one process and reports the
// open fds and resident memory before and after, as one line of JSON. Run it with --expose-gc:
//   node --expose-gc lifetime-cycles.js memory|kvm-objects|machines COUNT
// memory: guest RAM mappings and vCPU objects over a memfd standing in for the vCPU fd (no /dev/kvm needed);
// kvm-objects: VMs with their RAM and vCPUs on /dev/kvm, nothing run; machines: whole machines booting a tiny guest.
// In the first two modes half the cycles close what they made and the other half drop it for the GC, so both ways
// out are exercised; a machine always ends by stop() and is then dropped.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { validateConfig } from '../../src/vmm/config';
import { GuestRam } from '../../src/base/guest-ram';
import { KvmVm } from '../../src/vmm/kvm-vm';
import { Machine } from '../../src/vmm/machine';
import { native } from '../../src/base/native';
import { openVcpu, setFastMmio } from '../../src/vmm/vcpu-native';
import { GUEST_CODE, pvhElf } from './pvh-elf';

const MiB = 1 << 20;
/** Far more than a working process grows by, far less than what one leaked mapping per cycle adds up to. */
const GIVE_UP_GROWTH = 256 * MiB;
const gc = (globalThis as { gc?: () => void }).gc;
const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

/** A collection, then a turn of the event loop: buffer finalizers run from there. */
async function collect(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc!();
    await new Promise((r) => setImmediate(r));
  }
}

/** A vCPU object with a fast-MMIO table over fresh shared arrays, kicked once. */
function vcpuObject(fd: number, runSize: number): { close(): void } {
  const n = native();
  const vcpu = openVcpu(fd, runSize);
  const words = new Int32Array(new SharedArrayBuffer(256));
  const { READ_WORD, AND_NOT_WORD } = n.FAST_MMIO;
  setFastMmio(vcpu, [
    { gpa: 0xd0000060, kind: READ_WORD, words, index: 2 },
    { gpa: 0xd0000064, kind: AND_NOT_WORD, words, index: 2 },
  ], new Float64Array(new SharedArrayBuffer(64)), 3);
  n.kick(fd);
  return vcpu;
}

function memoryCycle(close: boolean): void {
  const n = native();
  const ram = GuestRam.create([{ gpa: 0, size: 2 * MiB }, { gpa: 0x1_0000_0000, size: 2 * MiB }], 'lifetime-cycle');
  for (const r of ram.memory.regions) ram.memory.fill(r.gpa, MiB, 0xa5);
  const standIn = n.memfdCreate('lifetime-kvm-run', 4096);
  const vcpu = vcpuObject(standIn, 4096);
  if (close) {
    vcpu.close();
    ram.close();
  } else {
    n.close(ram.fd);
  }
  n.close(standIn);
}

function kvmCycle(close: boolean): void {
  const n = native();
  const vm = KvmVm.create([{ gpa: 0, size: 8 * MiB }]);
  try {
    vm.memory.fill(0, 2 * MiB, 0xa5);
    for (let i = 0; i < 2; i++) {
      const vcpu = vcpuObject(vm.own(n.createVcpu(vm.vmFd, i)), vm.runSize);
      if (close) vcpu.close();
    }
  } finally {
    vm.close();
  }
}

async function machineCycle(kernel: string): Promise<void> {
  let out = '';
  let seen: () => void = () => {};
  const hello = new Promise<void>((r) => { seen = r; });
  const config = validateConfig({ kernel, memory: '32M', vcpus: 2, serial: { mode: 'none' }, onHalt: 'wait' });
  const m = Machine.create(config, {
    logger: pino({ level: 'silent' }),
    prefaultMemory: true,
    consoleOutput: (c) => { out += c.toString('latin1'); if (out.includes('hi\n')) seen(); },
  });
  m.start();
  await hello;
  const exit = await m.stop();
  if (exit.reason !== 'stopped') throw new Error(`machine ended with ${exit.reason}: ${exit.detail}`);
}

async function main(): Promise<void> {
  const [mode = 'memory', countArg = '200'] = process.argv.slice(2);
  if (gc === undefined) throw new Error('run with --expose-gc');
  const count = Number(countArg);
  let kernel = '';
  if (mode === 'machines') {
    kernel = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-cycles-')), 'hello.elf');
    fs.writeFileSync(kernel, pvhElf(GUEST_CODE.helloThenSpin));
  }
  const cycle = async (i: number): Promise<void> => {
    if (mode === 'memory') memoryCycle(i % 2 === 0);
    else if (mode === 'kvm-objects') kvmCycle(i % 2 === 0);
    else if (mode === 'machines') await machineCycle(kernel);
    else throw new Error(`unknown mode ${mode}`);
    await collect();
  };
  // The first cycles load code and grow the heap to its working size; the start is measured after them.
  for (let i = 0; i < 4; i++) await cycle(i);
  const start = { fds: openFds(), rss: process.memoryUsage().rss };
  let i = 0;
  for (; i < count; i++) {
    await cycle(i);
    if (process.memoryUsage().rss - start.rss > GIVE_UP_GROWTH) break;
  }
  await collect();
  if (kernel) fs.rmSync(path.dirname(kernel), { recursive: true, force: true });
  const end = { fds: openFds(), rss: process.memoryUsage().rss };
  process.stdout.write(`${JSON.stringify({ mode, cycles: i, start, end })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
