// `npm run test:vm -- [options] [--] COMMAND...`: runs COMMAND inside the test host (an L1 Linux with /dev/kvm under
// QEMU's TCG) with the checkout at the same path, streams its output, and exits with its status.
import { HostVmError } from './packages';
import { prepareHostVm } from './prepare';
import { L1_FAILED, runInL1 } from './run';

const HELP = `usage: npm run test:vm -- [options] [--] COMMAND [ARG...]

Runs COMMAND as root inside the test host: an L1 Linux booted under QEMU's TCG with AMD-V exposed, so that it
has a /dev/kvm, on this machine's root (read-only; writes go to a throwaway disk) with the checkout mounted
read-write at its own path. The first use downloads Debian's kernel package and packs an initramfs (cached).
Prints the command's output and exits with its exit status: 124 when it ran past --timeout, ${L1_FAILED} when L1
could not run it, 130/143 when interrupted.

options:
  --share DIR          the folder mounted at its own path and the command's cwd (default: the current folder)
  --cpus N             L1's CPUs (default 2)
  --memory MIB         L1's memory in MiB (default 4096)
  --timeout SECONDS    stop L1 after this long (default: no limit)
  --keep-logs          keep L1's console log and dmesg and say where they are
  --prepare            only download and pack what L1 boots, then exit
  --kernel-package P   the Debian kernel package (default: the newest linux-image-*-amd64; env TSVMM_HOST_VM_KERNEL)
  -h, --help           this text

example: npm run test:vm -- node --test dist/test/integration/tiny-rng.test.js`;

interface CliOptions {
  share: string;
  cpus: number;
  memoryMiB: number;
  timeoutMs: number | undefined;
  keepLogs: boolean;
  prepareOnly: boolean;
  kernelPackage: string | undefined;
  command: string[];
}

function positive(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n <= 0) throw new HostVmError(`${flag}: ${JSON.stringify(value)} is not a positive whole number`);
  return n;
}

export function parseArgs(argv: readonly string[]): CliOptions | 'help' {
  const o: CliOptions = {
    share: process.cwd(), cpus: 2, memoryMiB: 4096, timeoutMs: undefined, keepLogs: false, prepareOnly: false,
    kernelPackage: process.env.TSVMM_HOST_VM_KERNEL || undefined, command: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => argv[++i];
    if (a === '--') { o.command = argv.slice(i + 1); break; }
    if (a === '-h' || a === '--help') return 'help';
    else if (a === '--share') o.share = value() ?? '';
    else if (a === '--cpus') o.cpus = positive(a, value());
    else if (a === '--memory') o.memoryMiB = positive(a, value());
    else if (a === '--timeout') o.timeoutMs = positive(a, value()) * 1000;
    else if (a === '--keep-logs') o.keepLogs = true;
    else if (a === '--prepare') o.prepareOnly = true;
    else if (a === '--kernel-package') o.kernelPackage = value();
    else if (a.startsWith('-')) throw new HostVmError(`unknown option ${a} (see --help)`);
    else { o.command = argv.slice(i); break; }
  }
  if (o.share === '') throw new HostVmError('--share needs a folder');
  if (!o.prepareOnly && o.command.length === 0) throw new HostVmError('no command given (see --help)');
  return o;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const host = await prepareHostVm({ log, kernelPackage: o.kernelPackage });
  if (o.prepareOnly) {
    log(`[host-vm] ready: ${host.vmlinuz}`);
    return 0;
  }
  const run = runInL1({
    host, command: o.command, share: o.share, cpus: o.cpus, memoryMiB: o.memoryMiB, timeoutMs: o.timeoutMs,
    keepLogs: o.keepLogs, output: process.stdout, log,
  });
  // Ctrl-C or a kill ends QEMU (and with it the command), then the control folder goes too.
  process.on('SIGINT', () => run.abort(130));
  process.on('SIGTERM', () => run.abort(143));
  process.on('SIGHUP', () => run.abort(129));
  const result = await run.done;
  log(`[host-vm] status ${result.status} after ${(result.wallMs / 1000).toFixed(1)} s`);
  return result.status;
}

if (require.main === module) {
  main().then((status) => { process.exitCode = status; }, (err: unknown) => {
    const msg = err instanceof HostVmError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`test host: ${msg}\n`);
    process.exitCode = err instanceof HostVmError ? 2 : 1;
  });
}
