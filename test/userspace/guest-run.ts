// Booting the user-space image under `tsvmm run` for the Linux suites: a guest's console as an OutputWatch and a
// transcript in .test-results/, and a boot that stalls or triple-faults before user space in the test host booted
// again and listed (the suite's -stalls.log, which the test summary names as BOOTED AGAIN).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { BIN, REPO } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { netUnavailable } from '../helpers/netns';
import { OutputWatch } from '../helpers/wait';
import { noteStall, resultsDir } from '../run/files';
import { buildUserspaceInitramfs } from './image';

// Under the nested test host a step can take minutes; each wait names its step when it gives up.
export const STEP_MS = Number(process.env.TSVMM_UT_STEP_MS ?? 10 * 60_000);

export interface Guest {
  out: OutputWatch;
  send(line: string): void;
  exited: Promise<{ code: number | null; signal: string | null }>;
  stderr(): string;
  kill(): void;
}

/** Every tsvmm started here: one a failed test leaves running is killed before the next test (killAll). */
const running = new Set<Guest>();

/** `tsvmm run` on a config file, in the namespace when given, its serial console on a pipe and kept in a file. */
export function boot(name: string, config: object, dir: string, ns?: string, suite = 'linux-userspace'): Guest {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const argv = [BIN, 'run', file];
  const child = ns === undefined
    ? spawn(process.execPath, argv, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('ip', ['netns', 'exec', ns, process.execPath, ...argv], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  const out: OutputWatch = new OutputWatch(() => `tsvmm stderr:\n${err.slice(-3000)}\nconsole:\n${out.text().slice(-3000)}`);
  const transcript = fs.createWriteStream(path.join(resultsDir(), `${suite}-${name}.console.log`));
  child.stdout.on('data', (d: Buffer) => { out.append(d.toString('latin1')); transcript.write(d); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString('latin1'); });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('close', (code, signal) => { transcript.end(); out.end(`tsvmm ended (${signal ?? `status ${code}`})`); resolve({ code, signal }); });
  });
  const guest: Guest = {
    out, send: (line) => void child.stdin.write(`${line}\n`), exited, stderr: () => err,
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); },
  };
  running.add(guest);
  void exited.then(() => running.delete(guest));
  return guest;
}

// Under the nested test host a Linux boot now and then stops mid-line before user space (console quiet, no more
// vCPU exits), or triple-faults early (one boot in ten to fifteen, always before user space, never on other hosts;
// most likely the emulator's, not proven: docs/testing.md). Such a boot is killed and booted again, at most twice, and each time is said
// on stderr and in .test-results/linux-userspace-stalls.log, which the test summary lists as BOOTED AGAIN.
const QUIET_MS = 90_000;
const BOOT_TRIES = 3;
/** tsvmm's exit status for a guest triple fault. */
const TRIPLE_FAULT_STATUS = 4;

/** A healthy boot reaches user space in about a minute in L1; one still talking but not there after this is stuck
 *  (seen: a guest printing for ten minutes without reaching init). */
const START_MS = Number(process.env.TSVMM_UT_BOOT_MS ?? 5 * 60_000);

/** Waits for UT-START; says why the boot did not get there (quiet, an early triple fault, or too long), or
 *  undefined. A guest that ends any other way is an error, not a stall. */
async function startOrWhy(g: Guest): Promise<string | undefined> {
  try {
    if (await g.out.waitForOrQuiet('UT-START', QUIET_MS, START_MS) === 'seen') return undefined;
    return `went quiet for ${QUIET_MS / 1000} s`;
  } catch (e) {
    const end = await Promise.race([g.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    if (end?.code === TRIPLE_FAULT_STATUS) return 'triple-faulted';
    if (end === undefined) return `was not at user space within ${START_MS / 1000} s`;
    throw e;
  }
}

export async function bootToStart(name: string, config: object, dir: string, sockets: string[], ns?: string,
  suite = 'linux-userspace'): Promise<Guest> {
  for (let attempt = 1; ; attempt++) {
    const g = boot(attempt === 1 ? name : `${name}-try${attempt}`, config, dir, ns, suite);
    const why = await startOrWhy(g);
    if (why === undefined) return g;
    const lastLine = g.out.text().trimEnd().split('\n').at(-1) ?? '';
    const what = `${name}: boot ${attempt} of ${BOOT_TRIES} ${why} before user space ` +
      `after ${g.out.text().length} console bytes; last line: ${JSON.stringify(lastLine.slice(-120))}`;
    noteStall(suite, what);
    g.kill();
    await g.exited;
    if (attempt === BOOT_TRIES) throw new Error(`${what}; giving up`);
    for (const sock of sockets) fs.rmSync(sock, { force: true });
  }
}

/** The value after `key=` on the guest's UT-OK line for `check`. */
export function field(text: string, check: string, key: string): string {
  const line = new RegExp(`^UT-OK ${check} .*$`, 'm').exec(text)?.[0] ?? '';
  return new RegExp(`${key}=(\\S+)`).exec(line)?.[1] ?? `(no ${key} on the ${check} line)`;
}

/** Kills every guest still running (a failed test's). */
export function killAll(): void {
  for (const g of running) g.kill();
}

/** Why the user-space suites cannot run here (no KVM, no taps, or kvm_pvm), or undefined. */
export function userspaceSkip(): string | undefined {
  return kvmUnavailable() ?? netUnavailable()
    ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
}

/** What a user-space suite boots from, and its scratch folder. */
export interface UserspaceFiles { guest: GuestArtifacts; initrd: string; dir: string }

/** Builds (or takes from the cache) the kernel and the user-space image, and makes the suite's scratch folder. */
export async function prepareUserspace(prefix: string): Promise<UserspaceFiles> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const guest = await buildGuest({ log });
  const initrd = await buildUserspaceInitramfs(log);
  fs.mkdirSync(resultsDir(), { recursive: true });
  return { guest, initrd, dir: fs.mkdtempSync(path.join(os.tmpdir(), prefix)) };
}

/** The first console line that starts with `prefix` (for a failure's message: the whole console is too long). */
export function consoleLine(text: string, prefix: string): string {
  return text.split('\n').find((l) => l.startsWith(prefix))?.trimEnd() ?? `(no ${prefix} line)`;
}

/** Waits for a console line starting with `line`; a UT-FAIL line before it ends the wait at once, naming it. */
export async function guestSays(g: Guest, line: string): Promise<void> {
  const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A UT-FAIL line is taken whole: its reason follows the name.
  await g.out.waitFor(new RegExp(`^(${escaped}|UT-FAIL [^\\n]*\\n)`, 'm'), STEP_MS);
  const failed = /^UT-FAIL .*$/m.exec(g.out.text());
  if (failed) throw new Error(`the guest said "${failed[0]}" before "${line}"`);
}
