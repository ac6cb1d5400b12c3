// Debian's stock kernel on tsvmm: a modular distribution kernel, built without virtio-mmio command-line devices,
// finds its disk and RNG only through the DSDT's LNRO0005 entries (acpi: on), mounts its root from virtio-blk,
// runs user space there and powers off through the FADT's sleep registers: status 0. The serial transcript of each
// boot is kept in .test-results/ as an artifact.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { BIN, REPO } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { OutputWatch } from '../helpers/wait';
import { noteStall, resultsDir } from '../run/files';
import { buildStockGuest, type StockGuest } from '../stock/image';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
// Under the nested test host the xz decompression alone takes a while: a generous net, named when it gives up.
const LIMIT_MS = 15 * 60_000;
// Longer than the user-space suite's 90 s: the xz decompressor runs first and prints nothing for a while.
const QUIET_MS = 180_000;
const BOOT_TRIES = 4;
/** tsvmm's exit status for a guest triple fault. */
const TRIPLE_FAULT_STATUS = 4;

describe('a stock distribution kernel on tsvmm', { skip, timeout: LIMIT_MS + 60_000 }, () => {
  let guest: StockGuest;
  let dir: string;
  before(async () => {
    guest = await buildStockGuest((line) => void process.stderr.write(`${line}\n`));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-stock-'));
  }, { timeout: 20 * 60_000 });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  /** One boot; resolves once STOCK-USERSPACE is seen, or with `stalled` when it went quiet or triple-faulted first. */
  async function bootOnce(file: string, attempt: number): Promise<{ out: OutputWatch; exited: Promise<number | null>;
    stderr: () => string; stalled?: string }> {
    const child = spawn(process.execPath, [BIN, 'run', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const out: OutputWatch = new OutputWatch(() => `tsvmm stderr:\n${err.slice(-2000)}\nconsole:\n${out.text().slice(-3000)}`);
    const transcript = fs.createWriteStream(path.join(resultsDir(), `stock-kernel-try${attempt}.console.log`));
    child.stdout.on('data', (d: Buffer) => { out.append(d.toString('latin1')); transcript.write(d); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString('latin1'); });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => {
      transcript.end();
      out.end(`tsvmm ended (${signal ?? `status ${code}`})`); // a wait on the console fails at once, not at its limit
      resolve(code);
    }));
    // The test host's known faults (docs/testing.md): a boot whose console is quiet that long, or that
    // triple-faults before user space, is booted again.
    let why: string | undefined;
    try {
      if (await out.waitForOrQuiet('STOCK-USERSPACE', QUIET_MS, LIMIT_MS) === 'quiet') why = `went quiet for ${QUIET_MS / 1000} s`;
    } catch (e) {
      child.kill('SIGKILL');
      if (await exited !== TRIPLE_FAULT_STATUS) throw e;
      why = 'triple-faulted before user space';
    }
    if (why === undefined) return { out, exited, stderr: () => err };
    child.kill('SIGKILL');
    await exited;
    const stalled = `boot ${attempt} of ${BOOT_TRIES} ${why} after ${out.text().length} console bytes; ` +
      `last line: ${JSON.stringify(out.text().trimEnd().split('\n').at(-1)?.slice(-120))}`;
    return { out, exited, stderr: () => err, stalled };
  }

  it('finds virtio-blk and virtio-rng through ACPI, runs user space on a virtio-blk root, powers off with 0', async () => {
    const disk = path.join(dir, 'root.img');
    const config = {
      kernel: guest.kernel, initrd: guest.initrd, memory: '512M', vcpus: 2, acpi: 'on', log: { level: 'warn' },
      cmdline: 'console=ttyS0 panic=-1',
      devices: [{ type: 'blk', path: disk }, { type: 'rng' }],
    };
    const file = path.join(dir, 'stock.json');
    fs.writeFileSync(file, JSON.stringify(config));
    let boot: Awaited<ReturnType<typeof bootOnce>> | undefined;
    for (let attempt = 1; attempt <= BOOT_TRIES; attempt++) {
      fs.copyFileSync(guest.rootDisk, disk);
      boot = await bootOnce(file, attempt);
      if (boot.stalled === undefined) break;
      noteStall('stock-kernel', boot.stalled);
      if (attempt === BOOT_TRIES) throw new Error(`${boot.stalled}; giving up after ${BOOT_TRIES} boots`);
    }
    const { out, exited, stderr } = boot!;
    const code = await exited;
    const text = out.text();
    assert.doesNotMatch(text, /STOCK-FAIL/, text.slice(-3000));
    assert.match(text, new RegExp(`STOCK-INITRAMFS release=${guest.release.replace(/\./g, '\\.')}`));
    assert.match(text, /STOCK-USERSPACE root=\/dev\/vda ext4 virtio=2 acpi=2 hwrng=4096/, 'devices from the DSDT, root on vda');
    assert.equal(code, 0, `the ACPI power-off ends tsvmm with 0; stderr: ${stderr()}`);
    const check = execFileSync('debugfs', ['-R', 'cat /hello.txt', disk], { encoding: 'utf8', stdio: 'pipe' });
    assert.equal(check, 'written from the stock kernel\'s user space\n', 'the guest\'s write reached the image');
  });
});
