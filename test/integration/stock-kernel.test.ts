// Debian's stock kernel on tsvmm: a modular distribution kernel, built without virtio-mmio command-line devices,
// finds its disk and RNG only through the DSDT's LNRO0005 entries (acpi: on), mounts its root from virtio-blk,
// runs user space there and powers off through the FADT's sleep registers: status 0. The serial transcript is kept
// in .test-results/ as an artifact.
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
import { resultsDir } from '../run/files';
import { buildStockGuest, type StockGuest } from '../stock/image';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
// Under the nested test host the xz decompression alone takes a while: a generous net, named when it gives up.
const LIMIT_MS = 15 * 60_000;

describe('a stock distribution kernel on tsvmm', { skip, timeout: LIMIT_MS + 60_000 }, () => {
  let guest: StockGuest;
  let dir: string;
  before(async () => {
    guest = await buildStockGuest((line) => void process.stderr.write(`${line}\n`));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-stock-'));
  }, { timeout: 20 * 60_000 });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('finds virtio-blk and virtio-rng through ACPI, runs user space on a virtio-blk root, powers off with 0', async () => {
    const disk = path.join(dir, 'root.img');
    fs.copyFileSync(guest.rootDisk, disk);
    const config = {
      kernel: guest.kernel, initrd: guest.initrd, memory: '512M', vcpus: 2, acpi: 'on', log: { level: 'warn' },
      cmdline: 'console=ttyS0 panic=-1',
      devices: [{ type: 'blk', path: disk }, { type: 'rng' }],
    };
    const file = path.join(dir, 'stock.json');
    fs.writeFileSync(file, JSON.stringify(config));
    const child = spawn(process.execPath, [BIN, 'run', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const out: OutputWatch = new OutputWatch(() => `tsvmm stderr:\n${err.slice(-2000)}\nconsole:\n${out.text().slice(-3000)}`);
    const transcript = fs.createWriteStream(path.join(resultsDir(), 'stock-kernel.console.log'));
    child.stdout.on('data', (d: Buffer) => { out.append(d.toString('latin1')); transcript.write(d); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString('latin1'); });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code, signal) => {
      transcript.end();
      out.end(`tsvmm ended (${signal ?? `status ${code}`})`); // a wait on the console fails at once, not at its limit
      resolve(code);
    }));
    try {
      await out.waitFor('STOCK-USERSPACE', LIMIT_MS);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    const code = await exited;
    const text = out.text();
    assert.doesNotMatch(text, /STOCK-FAIL/, text.slice(-3000));
    assert.match(text, new RegExp(`STOCK-INITRAMFS release=${guest.release.replace(/\./g, '\\.')}`));
    assert.match(text, /STOCK-USERSPACE root=\/dev\/vda ext4 virtio=2 acpi=2 hwrng=4096/, 'devices from the DSDT, root on vda');
    assert.equal(code, 0, `the ACPI power-off ends tsvmm with 0; stderr: ${err}`);
    const check = execFileSync('debugfs', ['-R', 'cat /hello.txt', disk], { encoding: 'utf8', stdio: 'pipe' });
    assert.equal(check, 'written from the stock kernel\'s user space\n', 'the guest\'s write reached the image');
  });
});
